"""``ops.create_organisation`` / ``get_organisation``: the default firm every install has, slugs
made from names (numbered when taken, never one of Ponte's own paths), the audit row."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gateway import tenancy
from gateway.errors import Conflict, NotFound
from gateway.extensions import db
from gateway.models import DEFAULT_ORGANISATION, AuditEvent, User
from gateway.ops.organisations import create_organisation, get_organisation, slugify, valid_slug


def test_every_install_has_the_default_organisation_and_its_people_belong_to_it(app, world):
    with app.app_context():
        default = get_organisation("default")
        assert default.id == DEFAULT_ORGANISATION == get_organisation(1).id
        assert {u.organisation_id for u in db.session.scalars(select(User))} == {DEFAULT_ORGANISATION}


@pytest.mark.parametrize("name, slug", [
    ("Rossi & Figli S.r.l.", "rossi-figli-s-r-l"),
    ("Caffè Città", "caffe-citta"),
    ("   ", "firm"),
    ("x" * 60, "x" * 40),
])
def test_slugs_from_names(name, slug):
    assert slugify(name) == slug


@pytest.mark.parametrize("slug, ok", [("rossi", True), ("a", True), ("rossi-2", True), ("-rossi", False),
                                      ("Rossi", False), ("admin", False), ("default", False), ("a" * 41, False),
                                      ("ro/ssi", False), ("", False)])
def test_valid_slugs(slug, ok):
    assert valid_slug(slug) is ok


def test_create_numbers_a_taken_slug_audits_and_refuses_a_chosen_taken_one(app):
    with app.app_context():
        first = create_organisation("Studio Bianchi", actor="operator:ann", ip="192.0.2.7")
        second = create_organisation("Studio  Bianchi!", actor="operator:ann")
        assert (first.slug, second.slug) == ("studio-bianchi", "studio-bianchi-2")
        assert get_organisation("studio-bianchi-2").id == second.id != DEFAULT_ORGANISATION
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "organisation_created")
                                  .order_by(AuditEvent.id))
        assert (event.actor, event.ip, event.target) == ("operator:ann", "192.0.2.7", "organisation:studio-bianchi")
        with pytest.raises(Conflict):
            create_organisation("Other", slug="studio-bianchi")
        with pytest.raises(Conflict):
            create_organisation("Other", slug="api")
        with pytest.raises(Conflict):
            create_organisation("  ")
        with pytest.raises(NotFound):
            get_organisation("nobody-here")


def test_acting_for_is_scoped_to_the_block():
    assert tenancy.current() is None
    with tenancy.acting_for(7):
        assert tenancy.current() == 7
        with tenancy.acting_for(8):
            assert tenancy.current() == 8
        assert tenancy.current() == 7
    assert tenancy.current() is None and not tenancy.is_across()
    with tenancy.across_organisations():
        assert tenancy.is_across()
    assert not tenancy.is_across()
