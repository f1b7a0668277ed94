"""Two users connect the same AWS account at the same moment: the database decides, one wins.

Real threads, real PostgreSQL transactions, moto for AWS. Only spotopt.aws.identity_for_keys is replaced, so
both requests are held at the same point (after the STS check, before the claim) and released together.
"""

import threading

import pytest
from django.db import connection

from accounts.choices import AccountStatus, ConnectionMethod
from accounts.models import Account
from accounts.services import AccountConflict, account_connect_access_keys
from spotopt import aws
from tests.aws_fixtures import create_user_with_keys, moto  # noqa: F401

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("moto")]

ROUNDS = 5
KEYS_ACCOUNT = "210987654321"


def test_two_users_connecting_the_same_aws_account_at_once_one_wins(make_user, monkeypatch):
    _, key_id, secret = create_user_with_keys(KEYS_ACCOUNT, "spotopt-reader")
    state = threading.local()

    def identity_at_the_same_moment(access_key_id, secret_access_key):
        assert (access_key_id, secret_access_key) == (key_id, secret)
        state.barrier.wait(timeout=20)
        return aws.Identity(state.account_id, f"arn:aws:iam::{state.account_id}:user/spotopt-reader")

    monkeypatch.setattr(aws, "identity_for_keys", identity_at_the_same_moment)

    for round_number in range(ROUNDS):
        aws_account_id = f"3000000000{round_number:02d}"
        users = [make_user(), make_user()]
        barrier = threading.Barrier(len(users))
        results: dict[int, object] = {}

        def attempt(index, user, barrier=barrier, aws_account_id=aws_account_id, results=results):
            state.barrier, state.account_id = barrier, aws_account_id
            try:
                results[index] = account_connect_access_keys(
                    user=user, access_key_id=key_id, secret_access_key=secret, account_name=f"Racer {index}"
                )
            except Exception as exc:  # the outcome is checked below
                results[index] = exc
            finally:
                connection.close()

        threads = [threading.Thread(target=attempt, args=(i, user)) for i, user in enumerate(users)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads)

        winners = [i for i, result in results.items() if isinstance(result, tuple)]
        losers = [i for i, result in results.items() if isinstance(result, AccountConflict)]
        assert len(winners) == 1 and len(losers) == 1, f"round {round_number}: {results}"
        winner, loser = winners[0], losers[0]
        account, created = results[winner]
        assert created is True
        assert aws_account_id in results[loser].message

        rows = list(Account.objects.filter(account_id=aws_account_id))
        assert len(rows) == 1
        row = rows[0]
        assert row.pk == account.pk
        assert row.user_id == users[winner].pk
        assert row.account_name == f"Racer {winner}"
        assert row.connection_method == ConnectionMethod.ACCESS_KEYS
        assert row.get_access_keys() == (key_id, secret)
        # The winner's discovery ran after its commit (django-q sync, in the winner's thread).
        assert row.status == AccountStatus.ACTIVE
        assert not Account.objects.filter(user=users[loser]).exists()

    assert Account.objects.count() == ROUNDS
