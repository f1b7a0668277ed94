"""spotopt.crypto: AES-256-GCM secrets with key ids, rotation, context binding, and Account access keys."""

import base64

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from accounts.choices import ConnectionMethod
from accounts.models import Account
from spotopt import crypto
from spotopt.crypto import DecryptionError

OLD = "old:" + base64.b64encode(b"o" * 32).decode()
NEW = "new:" + base64.b64encode(b"n" * 32).decode()
OTHER_OLD = "old:" + base64.b64encode(b"x" * 32).decode()

ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def tamper(token: str) -> str:
    version, kid, payload = token.split(":", 2)
    blob = bytearray(base64.b64decode(payload))
    blob[-1] ^= 0x01
    return f"{version}:{kid}:{base64.b64encode(bytes(blob)).decode()}"


# --- encrypt / decrypt --------------------------------------------------------------------------------


@override_settings(CREDENTIALS_ENCRYPTION_KEYS=[OLD])
def test_round_trip_with_the_key_id_in_the_value():
    token = crypto.encrypt("top secret", context="ctx")
    assert token.startswith("v1:old:")
    assert "top secret" not in token
    assert crypto.key_id_of(token) == "old"
    assert crypto.decrypt(token, context="ctx") == "top secret"


@override_settings(CREDENTIALS_ENCRYPTION_KEYS=[OLD])
def test_every_encryption_uses_a_fresh_nonce():
    first = crypto.encrypt("same", context="ctx")
    second = crypto.encrypt("same", context="ctx")
    assert first != second
    assert crypto.decrypt(first, context="ctx") == crypto.decrypt(second, context="ctx") == "same"


@override_settings(CREDENTIALS_ENCRYPTION_KEYS=[OLD])
def test_unicode_and_empty_values_round_trip():
    for text in ("", "päss wörd ✓", "x" * 10_000):
        assert crypto.decrypt(crypto.encrypt(text, context="ctx"), context="ctx") == text


def test_a_value_under_an_old_key_still_decrypts_after_rotation():
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[OLD]):
        old_token = crypto.encrypt("rotate me", context="ctx")
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[NEW, OLD]):
        assert crypto.decrypt(old_token, context="ctx") == "rotate me"
        new_token = crypto.encrypt("rotate me", context="ctx")
        assert crypto.key_id_of(new_token) == "new"
        assert crypto.decrypt(new_token, context="ctx") == "rotate me"
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[NEW]), pytest.raises(DecryptionError):
        crypto.decrypt(old_token, context="ctx")


@override_settings(CREDENTIALS_ENCRYPTION_KEYS=[OLD])
def test_a_tampered_value_is_refused():
    token = crypto.encrypt("secret", context="ctx")
    with pytest.raises(DecryptionError, match="the stored value does not decrypt with key 'old'"):
        crypto.decrypt(tamper(token), context="ctx")


@override_settings(CREDENTIALS_ENCRYPTION_KEYS=[OLD])
def test_a_value_decrypted_in_the_wrong_context_is_refused():
    token = crypto.encrypt("secret", context="accounts.Account:1:secret_access_key")
    with pytest.raises(DecryptionError, match="does not decrypt with key 'old'"):
        crypto.decrypt(token, context="accounts.Account:2:secret_access_key")


def test_a_value_under_an_unknown_key_id_is_refused():
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[NEW]):
        token = crypto.encrypt("secret", context="ctx")
    with (
        override_settings(CREDENTIALS_ENCRYPTION_KEYS=[OLD]),
        pytest.raises(DecryptionError, match="the encryption key 'new' is not configured"),
    ):
        crypto.decrypt(token, context="ctx")


def test_the_same_key_id_with_other_key_material_is_refused():
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[OLD]):
        token = crypto.encrypt("secret", context="ctx")
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[OTHER_OLD]), pytest.raises(DecryptionError):
        crypto.decrypt(token, context="ctx")


@override_settings(CREDENTIALS_ENCRYPTION_KEYS=[OLD])
@pytest.mark.parametrize("value", ["", "plain text", "v2:old:AAAA", "v1:old", None])
def test_values_not_in_the_stored_format_are_refused(value):
    with pytest.raises(DecryptionError, match="not in the expected format"):
        crypto.decrypt(value, context="ctx")


@override_settings(CREDENTIALS_ENCRYPTION_KEYS=[OLD])
def test_a_corrupt_payload_is_refused():
    with pytest.raises(DecryptionError, match=r"corrupt \(not base64\)"):
        crypto.decrypt("v1:old:%%%not-base64%%%", context="ctx")


# --- key configuration --------------------------------------------------------------------------------


def test_parse_keys_takes_the_first_key_as_current():
    ring = crypto.parse_keys([NEW, " ", OLD])
    assert ring.current_kid == "new"
    assert set(ring.keys) == {"new", "old"}
    assert ring.key("old") == b"o" * 32


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([], "CREDENTIALS_ENCRYPTION_KEYS is empty"),
        (["", "  "], "CREDENTIALS_ENCRYPTION_KEYS is empty"),
        (["no-separator"], "must look like 'kid:base64key'"),
        ([":" + base64.b64encode(b"k" * 32).decode()], "must look like 'kid:base64key'"),
        (["k1:not base64!"], "Encryption key 'k1' is not valid base64"),
        (["k1:" + base64.b64encode(b"short").decode()], "Encryption key 'k1' must be 32 bytes"),
        ([OLD, OTHER_OLD], "Encryption key id 'old' is listed twice"),
    ],
)
def test_bad_key_configuration_is_refused(entries, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        crypto.parse_keys(entries)


def test_generated_key_entries_work():
    entry = crypto.generate_key_entry("fresh")
    assert entry.startswith("fresh:")
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[entry]):
        assert crypto.decrypt(crypto.encrypt("ok", context="c"), context="c") == "ok"
    assert crypto.generate_key_entry("fresh") != entry


# --- Account access keys ------------------------------------------------------------------------------


@pytest.fixture
def keys_account(client_user, make_account):
    return make_account(
        client_user,
        account_id="135791357913",
        account_name="Keyed",
        connection_method=ConnectionMethod.ACCESS_KEYS,
        external_id=None,
        role_arn="",
    )


@override_settings(CREDENTIALS_ENCRYPTION_KEYS=[OLD])
def test_access_keys_round_trip_and_are_stored_encrypted(keys_account):
    assert not keys_account.has_access_keys
    keys_account.set_access_keys(ACCESS_KEY_ID, SECRET_ACCESS_KEY)
    keys_account.save()

    stored = Account.objects.get(pk=keys_account.pk)
    assert stored.has_access_keys
    assert stored.get_access_keys() == (ACCESS_KEY_ID, SECRET_ACCESS_KEY)
    row = Account.objects.filter(pk=keys_account.pk).values().get()
    for value in row.values():
        assert ACCESS_KEY_ID not in str(value)
        assert SECRET_ACCESS_KEY not in str(value)
    assert row["access_key_id_encrypted"].startswith("v1:old:")
    assert row["secret_access_key_encrypted"].startswith("v1:old:")


@override_settings(CREDENTIALS_ENCRYPTION_KEYS=[OLD])
def test_access_keys_are_bound_to_their_account_and_field(keys_account, client_user, make_account):
    keys_account.set_access_keys(ACCESS_KEY_ID, SECRET_ACCESS_KEY)
    keys_account.save()

    swapped = Account.objects.get(pk=keys_account.pk)
    swapped.access_key_id_encrypted, swapped.secret_access_key_encrypted = (
        swapped.secret_access_key_encrypted,
        swapped.access_key_id_encrypted,
    )
    with pytest.raises(DecryptionError):
        swapped.get_access_keys()

    other = make_account(client_user, connection_method=ConnectionMethod.ACCESS_KEYS, external_id=None)
    other.access_key_id_encrypted = keys_account.access_key_id_encrypted
    other.secret_access_key_encrypted = keys_account.secret_access_key_encrypted
    with pytest.raises(DecryptionError):
        other.get_access_keys()


def test_access_keys_survive_key_rotation(keys_account):
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[OLD]):
        keys_account.set_access_keys(ACCESS_KEY_ID, SECRET_ACCESS_KEY)
        keys_account.save()
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[NEW, OLD]):
        assert Account.objects.get(pk=keys_account.pk).get_access_keys() == (ACCESS_KEY_ID, SECRET_ACCESS_KEY)


def test_undecryptable_access_keys_raise_an_error_naming_the_account(keys_account):
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[OLD]):
        keys_account.set_access_keys(ACCESS_KEY_ID, SECRET_ACCESS_KEY)
        keys_account.save()
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[NEW]), pytest.raises(DecryptionError) as excinfo:
        Account.objects.get(pk=keys_account.pk).get_access_keys()
    message = str(excinfo.value)
    assert "account 'Keyed' (135791357913)" in message
    assert "the encryption key 'old' is not configured" in message
    assert "CREDENTIALS_ENCRYPTION_KEYS" in message
    assert ACCESS_KEY_ID not in message
    assert SECRET_ACCESS_KEY not in message
    assert excinfo.value.__cause__ is None
    assert excinfo.value.__suppress_context__


@override_settings(CREDENTIALS_ENCRYPTION_KEYS=[OLD])
def test_tampered_access_keys_raise_an_error_naming_the_account(keys_account):
    keys_account.set_access_keys(ACCESS_KEY_ID, SECRET_ACCESS_KEY)
    keys_account.secret_access_key_encrypted = tamper(keys_account.secret_access_key_encrypted)
    keys_account.save()
    with pytest.raises(DecryptionError, match=r"account 'Keyed' \(135791357913\) cannot be decrypted"):
        Account.objects.get(pk=keys_account.pk).get_access_keys()
