"""Isolation of organisations in the data layer, in one place (issue 17).

Every tenant-owned model inherits ``OrganisationScoped`` (an ``organisation_id`` column). The
session's ORM events then make every statement the code runs belong to one organisation:

- ``do_orm_execute`` adds ``with_loader_criteria(OrganisationScoped, organisation_id == <current>)``
  to every ORM SELECT, UPDATE and DELETE (joins and aliases included), so a query that forgets
  to filter still sees only its firm's rows. ``Session.get`` goes through it when it queries; a
  row it finds already in the identity map (loaded across organisations earlier in the same
  session) is checked by ``ScopedSession.get`` instead, which the criteria never see.
- ``before_flush`` stamps new rows with the current organisation and refuses (``CrossOrganisation``)
  to insert, change or delete a row of another one.

Which organisation is current: ``tenancy.current()``; none chosen (a single-firm install's CLI,
the tests' app contexts) means the default organisation, so such an install needs no new step.
Requests always choose one explicitly (``gateway.orgcontext``); code that must see every firm's
rows (the provider's operators, background jobs) runs inside ``tenancy.across_organisations()``,
where no criteria are added and writes are not checked (new rows must then name their
organisation themselves).

Expired attributes reloaded after a commit (column loads) are not filtered: the row was already
allowed when it was first loaded, and filtering the refresh would turn it into a deleted object.
"""

from __future__ import annotations

from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import ForeignKey, event
from sqlalchemy.orm import Mapped, ORMExecuteState, declared_attr, mapped_column, with_loader_criteria

from . import tenancy
from .errors import CrossOrganisation


class OrganisationScoped:
    """Mixin of every tenant-owned model: the row belongs to one organisation."""

    @declared_attr
    def organisation_id(cls) -> Mapped[int]:
        return mapped_column(ForeignKey("organisations.id"), index=True, server_default="1")


def acting_organisation() -> int:
    """The organisation whose rows the data layer shows now (the default one when none is chosen)."""
    current = tenancy.current()
    return tenancy.DEFAULT if current is None else current


class ScopedSession(FlaskSession):
    """Flask-SQLAlchemy's session whose ``get`` also checks rows found in the identity map."""

    def get(self, entity, ident, **kwargs):
        found = super().get(entity, ident, **kwargs)
        if found is not None and isinstance(found, OrganisationScoped) and not tenancy.is_across() \
                and found.organisation_id != acting_organisation():
            return None
        return found


@event.listens_for(ScopedSession, "do_orm_execute")
def _scope_statement(state: ORMExecuteState) -> None:
    if tenancy.is_across() or state.is_column_load:
        return
    if not (state.is_select or state.is_update or state.is_delete):
        return
    org = acting_organisation()
    state.statement = state.statement.options(with_loader_criteria(
        OrganisationScoped, lambda cls: cls.organisation_id == org, include_aliases=True))


@event.listens_for(ScopedSession, "before_flush")
def _check_writes(session, _flush_context, _instances) -> None:
    across = tenancy.is_across()
    org = acting_organisation()
    for obj in session.new:
        if not isinstance(obj, OrganisationScoped):
            continue
        if obj.organisation_id is None:
            if across:
                raise CrossOrganisation(f"a new {type(obj).__name__} across organisations must name its own")
            obj.organisation_id = org
        elif not across and obj.organisation_id != org:
            raise CrossOrganisation(f"{type(obj).__name__} of organisation {obj.organisation_id} "
                                    f"written while acting for {org}")
    if across:
        return
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, OrganisationScoped) and obj.organisation_id != org:
            raise CrossOrganisation(f"{type(obj).__name__} of organisation {obj.organisation_id} "
                                    f"changed while acting for {org}")
