"""Organisations kept apart in the data layer (``gateway.scoping``, issue 17): every model is
scoped or on an explicit list of global ones; reads, ``get``, bulk updates and deletes see only
the acting firm's rows; writes to another firm's rows are refused; names are unique per firm."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from gateway import ops, tenancy
from gateway.extensions import db
from gateway.models import (SignupRequest, AuditEvent, GlobalSetting, Grant, Machine, Organisation, SessionRecord, User,
                            find_machine, find_user)
from gateway.ops.organisations import create_organisation
from gateway.scoping import CrossOrganisation, OrganisationScoped

#: Models that are not any one firm's, and why.
GLOBAL_MODELS = {
    Organisation: "the firms themselves: the provider's list",
    GlobalSetting: "gateway-wide switches; a firm's own switch is its own key (ops.shares._setting_key)",
    SignupRequest: "a firm asking for access has no organisation yet: the provider's queue",
}


def test_every_model_is_scoped_or_explicitly_global(app):
    unscoped = sorted(m.class_.__name__ for m in db.Model.registry.mappers
                      if not issubclass(m.class_, OrganisationScoped) and m.class_ not in GLOBAL_MODELS)
    assert not unscoped, f"models with no organisation scope (add OrganisationScoped, or list why in " \
                         f"GLOBAL_MODELS): {unscoped}"
    for model in GLOBAL_MODELS:
        assert not issubclass(model, OrganisationScoped)


@pytest.fixture
def firms(app):
    """Firm A (the default one) and firm B, each with a person "mario", a PC "reception" granted to him."""
    with app.app_context():
        b = create_organisation("Bianchi Srl", slug="bianchi").id
        made = {}
        for org in (tenancy.DEFAULT, b):
            with tenancy.acting_for(org):
                user = ops.add_user("mario", "mariopass12")
                machine, _ = ops.add_machine("reception")
                ops.grant(user, machine)
                made[org] = {"user": user.id, "machine": machine.id}
        return {"a": tenancy.DEFAULT, "b": b, "rows": {"a": made[tenancy.DEFAULT], "b": made[b]}}


def test_names_are_unique_per_organisation_only(app, firms):
    with app.app_context():
        assert firms["rows"]["a"]["user"] != firms["rows"]["b"]["user"]
        with tenancy.acting_for(firms["b"]):
            with pytest.raises(ops.AdminError):
                ops.add_user("mario", "mariopass12")
        db.session.rollback()
        with tenancy.across_organisations():
            db.session.add(User(name="mario", password_hash="x", organisation_id=firms["b"]))
            with pytest.raises(IntegrityError):
                db.session.commit()


def test_reads_and_get_see_only_the_acting_firm(app, firms):
    with app.app_context():
        for mine, theirs in (("a", "b"), ("b", "a")):
            with tenancy.acting_for(firms[mine]):
                assert find_user("mario").id == firms["rows"][mine]["user"]
                assert db.session.get(User, firms["rows"][theirs]["user"]) is None
                assert db.session.get(Machine, firms["rows"][theirs]["machine"]) is None
                assert find_machine(firms["rows"][theirs]["machine"]) is None
                assert {m.id for m in db.session.scalars(select(Machine))} == {firms["rows"][mine]["machine"]}
                assert db.session.scalar(select(func.count()).select_from(Grant)) == 1
                # a join reaches the other firm's table too: still only this firm's rows
                joined = db.session.scalars(select(User.id).join(Grant, Grant.user_id == User.id)).all()
                assert joined == [firms["rows"][mine]["user"]]
        with tenancy.across_organisations():
            assert db.session.scalar(select(func.count()).select_from(User)) == 2


def test_get_of_a_row_loaded_across_organisations_is_refused_afterwards(app, firms):
    """The identity map never asks the database again: ``ScopedSession.get`` checks it."""
    with app.app_context():
        with tenancy.across_organisations():
            assert db.session.get(User, firms["rows"]["b"]["user"]) is not None
        with tenancy.acting_for(firms["a"]):
            assert db.session.get(User, firms["rows"]["b"]["user"]) is None


def test_bulk_update_and_delete_touch_only_the_acting_firm(app, firms):
    with app.app_context():
        with tenancy.acting_for(firms["a"]):
            changed = db.session.execute(update(User).values(display_name="touched")).rowcount
            db.session.execute(delete(Grant))
            db.session.commit()
        assert changed == 1
        with tenancy.acting_for(firms["b"]):
            assert db.session.get(User, firms["rows"]["b"]["user"]).display_name == ""
            assert db.session.scalar(select(func.count()).select_from(Grant)) == 1


def test_writes_are_stamped_and_another_firms_rows_refused(app, firms):
    with app.app_context():
        with tenancy.acting_for(firms["b"]):
            ops.add_group("night-shift")
            assert db.session.scalar(select(AuditEvent.organisation_id).where(
                AuditEvent.action == "group_add").order_by(AuditEvent.id.desc()).limit(1)) == firms["b"]
        with tenancy.across_organisations():
            theirs = db.session.get(User, firms["rows"]["b"]["user"])
        with tenancy.acting_for(firms["a"]):
            theirs.display_name = "hijacked"
            with pytest.raises(CrossOrganisation):
                db.session.flush()
            db.session.rollback()
            db.session.add(Machine(name="planted", organisation_id=firms["b"]))
            with pytest.raises(CrossOrganisation):
                db.session.flush()
            db.session.rollback()
        with tenancy.across_organisations():
            db.session.add(SessionRecord(id="s" * 32, user_name="x", machine_name="y"))
            with pytest.raises(CrossOrganisation):   # across, a new row must say whose it is
                db.session.flush()
            db.session.rollback()


def test_no_organisation_chosen_acts_for_the_default_one(app, firms):
    """A single-firm install's CLI and jobs: no step to take, the default firm's rows."""
    with app.app_context():
        assert tenancy.current() is None
        assert find_user("mario").id == firms["rows"]["a"]["user"]
        user = ops.add_user("luigi", "luigipass12")
        assert user.organisation_id == tenancy.DEFAULT


def test_each_firm_has_its_own_switches_and_policies(app, firms):
    """The share-link switch (a gateway-wide table, a key per firm), the second-factor policy and
    the branding row: one firm's change is not the other's."""
    from gateway import branding
    from gateway.factors import policy as factor_policy
    from gateway.ops import shares

    with app.app_context():
        with tenancy.acting_for(firms["b"]):
            shares.set_sharing(True, actor="b-admin")
            factor_policy.save("everyone", [], False, actor="b-admin")
            branding.save("Bianchi Srl", None, actor="b-admin", ip="")
        with tenancy.acting_for(firms["b"]):
            assert shares.sharing_allowed() and factor_policy.current().require == "everyone"
            assert branding._find().company_name == "Bianchi Srl"
        with tenancy.acting_for(firms["a"]):
            assert not shares.sharing_allowed() and factor_policy.current().require == "off"
            assert branding._find() is None
