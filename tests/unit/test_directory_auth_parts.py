"""The directory's sign-in building blocks: keys, passwords, request bodies, catalogue."""

from __future__ import annotations

from datetime import date

import pytest
from argon2 import PasswordHasher
from pydantic import ValidationError

from casemesh.identity import ALL_PERMISSIONS
from services.cases.directory import credentials
from services.cases.directory.authentication import may_sign_in
from services.cases.directory.catalogue import BUILT_IN_ROLES, PERMISSIONS, find_permission
from services.cases.directory.passwords import Passwords
from services.cases.directory.schemas import TokenRequest, UserCreate, UserUpdate


def test_api_keys_carry_their_id_and_are_stored_as_digests():
    key = credentials.new_api_key()
    assert credentials.is_api_key(key.value)
    assert credentials.api_key_id(key.value) == key.key_id
    stored = credentials.digest(key.value)
    assert key.secret not in stored and len(stored) == 64
    assert credentials.same_digest(key.value, stored)
    assert not credentials.same_digest(key.value + "x", stored)


@pytest.mark.parametrize(
    "value",
    ["", "cmk_", "cmk_abc_def", "cmk_" + "z" * 16 + "_secret", "cmk_" + "a" * 16, "abc"],
)
def test_malformed_api_keys_have_no_id(value):
    assert credentials.api_key_id(value) is None


def test_tokens_and_uids_look_like_processmakers():
    assert len(credentials.new_token()) == 40
    uid = credentials.new_uid()
    assert len(uid) == 32 and int(uid, 16) >= 0


async def test_passwords_are_hashed_with_argon2id_and_verified():
    passwords = Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    hashed = await passwords.hash("correct horse")
    assert hashed.startswith("$argon2id$")
    assert await passwords.verify(hashed, "correct horse")
    assert not await passwords.verify(hashed, "wrong horse")
    assert not await passwords.verify("not a hash", "correct horse")
    await passwords.spend_time("anything")  # a decoy check, for unknown users


def test_sign_in_needs_an_allowed_status_and_a_due_date_not_passed():
    today = date(2026, 5, 1)
    active = {"usr_status": "ACTIVE", "usr_due_date": ""}
    assert may_sign_in(active, today)
    assert may_sign_in({**active, "usr_status": "VACATION"}, today)
    assert not may_sign_in({**active, "usr_status": "INACTIVE"}, today)
    assert may_sign_in({**active, "usr_due_date": "2026-05-01"}, today)
    assert not may_sign_in({**active, "usr_due_date": "2026-04-30"}, today)


def test_user_bodies_take_field_names_in_any_case_and_ignore_unknown_ones():
    body = UserCreate.model_validate(
        {
            "USR_USERNAME": "amy",
            "usr_firstname": "Amy",
            "Usr_Lastname": "Pond",
            "usr_email": "amy@example.com",
            "usr_new_pass": "long enough",
            "usr_status": "vacation",
            "usr_country": "GB",
        }
    )
    assert body.usr_username == "amy" and body.usr_status == "VACATION"
    assert body.usr_role == "PROCESSMAKER_OPERATOR"
    assert UserUpdate.model_validate({"USR_POSITION": "Clerk"}).given() == {"usr_position": "Clerk"}
    with pytest.raises(ValidationError):
        UserUpdate.model_validate({"usr_new_pass": "long enough", "usr_cnf_pass": "other"})


def test_token_requests_accept_numbers_as_text():
    assert TokenRequest.model_validate({"password": 12345678}).password == "12345678"


def test_the_catalogue_covers_every_permission_once():
    assert sorted(p.code for p in PERMISSIONS) == sorted(ALL_PERMISSIONS)
    assert len({p.uid for p in PERMISSIONS}) == len(PERMISSIONS)
    assert all(len(p.uid) == 32 for p in PERMISSIONS)
    assert find_permission("pm_cases") == find_permission("00000000000000000000000000000005")
    assert find_permission("PM_NOTHING") is None
    admin = next(r for r in BUILT_IN_ROLES if r.code == "PROCESSMAKER_ADMIN")
    assert set(admin.permissions) == set(ALL_PERMISSIONS)
