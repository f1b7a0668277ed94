"""`manage.py rotate_credentials_key` (accounts.services.credentials_rotate_key)."""

import base64
import io

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from accounts.choices import ConnectionMethod
from accounts.models import Account
from accounts.services import credentials_rotate_key
from spotopt import crypto

pytestmark = pytest.mark.django_db

OLD = "old:" + base64.b64encode(b"o" * 32).decode()
NEW = "new:" + base64.b64encode(b"n" * 32).decode()
GONE = "gone:" + base64.b64encode(b"g" * 32).decode()


def keys_account(make_account, user, n: int) -> tuple[Account, tuple[str, str]]:
    keys = (f"AKIAROTATE{n:010d}", f"secret/{n}/" + "s" * 30)
    account = make_account(
        user, connection_method=ConnectionMethod.ACCESS_KEYS, role_arn="", external_id=None, account_name=f"Keys {n}"
    )
    account.set_access_keys(*keys)
    account.save()
    return account, keys


def stored(account: Account) -> tuple[str, str]:
    return tuple(
        Account.objects.filter(pk=account.pk)
        .values_list("access_key_id_encrypted", "secret_access_key_encrypted")
        .get()
    )


def rotate() -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("rotate_credentials_key", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_rotation_re_encrypts_under_the_new_key_and_a_second_run_has_nothing_to_do(client_user, make_account):
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[OLD]):
        accounts = [keys_account(make_account, client_user, n) for n in range(3)]
        role_account = make_account(client_user)  # no stored secrets: not touched
    assert all(crypto.key_id_of(value) == "old" for account, _ in accounts for value in stored(account))

    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[NEW, OLD]):
        before = {account.pk: stored(account) for account, _ in accounts}
        out, err = rotate()
        assert "Key new: 3 account(s) re-encrypted, 0 already current." in out
        assert err == ""
        for account, keys in accounts:
            values = stored(account)
            assert values != before[account.pk]
            assert all(crypto.key_id_of(value) == "new" for value in values)
            account.refresh_from_db()
            assert account.get_access_keys() == keys

        out, _ = rotate()
        assert "Key new: 0 account(s) re-encrypted, 3 already current." in out

    # Only the new key is needed from now on.
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[NEW]):
        for account, keys in accounts:
            account.refresh_from_db()
            assert account.get_access_keys() == keys
    role_account.refresh_from_db()
    assert role_account.access_key_id_encrypted == ""


@pytest.mark.parametrize("breakage", ["key removed", "value corrupted"])
def test_an_undecryptable_account_is_named_and_left_untouched_while_the_others_rotate(
    client_user, make_account, breakage
):
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[OLD]):
        good, good_keys = keys_account(make_account, client_user, 1)
    if breakage == "key removed":
        with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[GONE]):
            broken, _ = keys_account(make_account, client_user, 2)
    else:
        with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[OLD]):
            broken, _ = keys_account(make_account, client_user, 2)
        version, kid, payload = broken.secret_access_key_encrypted.split(":", 2)
        blob = bytearray(base64.b64decode(payload))
        blob[-1] ^= 0x01
        Account.objects.filter(pk=broken.pk).update(
            secret_access_key_encrypted=f"{version}:{kid}:{base64.b64encode(bytes(blob)).decode()}"
        )
    broken_before = stored(broken)

    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[NEW, OLD]):
        out, err = io.StringIO(), io.StringIO()
        with pytest.raises(CommandError, match="1 account"):
            call_command("rotate_credentials_key", stdout=out, stderr=err)

        assert "1 account(s) re-encrypted" in out.getvalue()
        assert f"'Keys 2' ({broken.account_id})" in err.getvalue()
        assert "Keys 1" not in err.getvalue()
        assert stored(broken) == broken_before
        assert all(crypto.key_id_of(value) == "new" for value in stored(good))
        good.refresh_from_db()
        assert good.get_access_keys() == good_keys


def test_the_service_reports_failures_without_secrets(client_user, make_account):
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[GONE]):
        broken, keys = keys_account(make_account, client_user, 7)
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[NEW]):
        result = credentials_rotate_key()
    assert result["key_id"] == "new"
    assert (result["re_encrypted"], result["already_current"]) == (0, 0)
    [failure] = result["failed"]
    assert broken.account_id in failure and "'gone' is not configured" in failure
    assert keys[0] not in failure and keys[1] not in failure
