"""
`ContingentOrders`: the orchestrator's driver of contingent groups. It sends a group's legs
through the same eight stages as any intent, keeps each group's `ContingentMachine`, reacts
to its legs' venue events (`plan.react`: cancel, release, resize, flag) as they arrive, and
rebuilds every group from the audit trail when a store is reopened.

Rules it keeps:
- **Never half-sent.** Every leg sent at submit passes validation, the risk gate and routing
  (LIVE stays blocked by default) before any is written ahead; held legs pass the contract
  checks. One leg stopped refuses the whole group (CONTINGENT_GROUP_REFUSED): the legs that
  had passed fail with that reason, nothing is sent. A held leg passes the whole pipeline
  when its parent releases it (risk is asked then); stopped there, the group is flagged
  CONTINGENT_RELEASE_REFUSED (so is a release whose key another stream of a shared store used
  after the submit: flagged, never an exception into the venue feed).
- **Idempotent like intents.** A group id seen before with the same terms answers its status
  marked ``duplicate`` (audited, nothing sent); with other terms it is an audited
  `IdempotencyConflict`. A leg whose key was already used refuses the group.
- **Durable.** The group's first record carries its terms; its state is its trail. A crash
  between a leg's fill and the reaction (the trigger, the cancel, the release) is found at
  restart (`plan.due`, and a triggered group's other leg with no cancel requested since the
  trigger) and flagged CONTINGENT_REACTION_INTERRUPTED; `resume` sends what is owed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

import execfsm.contingent.plan as plan
from execfsm.contingent.machine import ContingentMachine
from execfsm.contingent.plan import Action, Cause, GroupView, LegView
from execfsm.contingent.terms import ContingencyType, ContingentGroup, GroupState, TriggerMode
from execfsm.contracts import (
    EventKind,
    ExecutionEvent,
    Fill,
    Order,
    PipelineState,
    ReasonCode,
)
from execfsm.errors import ContractViolation, IdempotencyConflict, PolicyViolation
from execfsm.fsm import guards as g
from execfsm.fsm.audit import AuditEntry, AuditOutcome
from execfsm.fsm.instrument_guards import check_intent
from execfsm.fsm.order import EventOutcome
from execfsm.ids import canonical_json
from execfsm.orchestration.events import EventProcessor
from execfsm.orchestration.intents import IntentRunner
from execfsm.orchestration.units import delivered
from execfsm.stages import dispatch, intake, recon, run_stages
from execfsm.stages._context import RunContext
from execfsm.typing import ReplacingAdapter

_FLAGGED_ON_LEGS = (ReasonCode.CONTINGENT_OVERFILL, ReasonCode.CONTINGENT_CANCEL_REJECTED)


@attrs.frozen
class GroupStatus:
    """
    A group as it stands: its state, its legs' orders (None: held, never sent), its flags.
    """

    group_id: str
    kind: ContingencyType
    mode: TriggerMode
    state: GroupState
    legs: Mapping[str, Order | None]
    flags: tuple[ReasonCode, ...] = ()
    reason_code: ReasonCode | None = None
    """Why the group was refused (CONTINGENT_GROUP_REFUSED), if it was."""
    reason_detail: str = ""
    duplicate: bool = False
    """This answers a resubmission of the same terms: nothing was sent."""

    @property
    def accepted(self) -> bool:
        """
        The group was not refused at submit.
        """
        return self.state is not GroupState.REFUSED


class _Group:
    """One group's machine and what the driver keeps about it."""

    def __init__(self, group: ContingentGroup, machine: ContingentMachine) -> None:
        self.group = group
        self.machine = machine
        self.flags: list[ReasonCode] = []
        self.reason: ReasonCode | None = None
        self.detail = ""
        self.unsent: set[str] = set()
        """Legs written ahead at submit and not sent yet."""
        self.skip: set[str] = set()
        """Of those, the legs the group cancelled before they were sent."""
        self.keys = [group.group_id, *(leg.idempotency_key for leg in group.legs)]


class ContingentOrders:
    """
    Contingent groups on an orchestrator's books; the orchestrator builds one
    (`ExecutionOrchestrator.contingent`) after recovery, and it sets itself as the
    `EventProcessor`'s leg-event hook.
    """

    def __init__(self, intents: IntentRunner, events: EventProcessor) -> None:
        self._intents = intents
        self._events = events
        self._units = intents._units
        self._services = self._units.services
        self._pipeline = intents._pipeline
        self._locks = intents._locks
        self._notify = intents._notify
        self.legs: dict[str, tuple[_Group, str]] = {}
        """Every leg's client order id (held ones too), to its group and role: the one
        lookup an event of an order outside any group pays."""
        self._groups: dict[str, _Group] = {}
        self.interrupted: tuple[str, ...] = self._recover()
        """The groups a restart found owing a reaction (flagged)."""
        events.contingent = self

    # -- submit -----------------------------------------------------------------------------

    def submit(self, group: ContingentGroup) -> GroupStatus:
        """
        `ExecutionOrchestrator.submit_group`: the group's legs through the pipeline, all or
        none (see the module), then the group's first reaction to what they answered.
        """
        if not isinstance(group, ContingentGroup):
            raise ContractViolation(
                f"group: must be a ContingentGroup, got {type(group).__name__}",
                reason=ReasonCode.VALIDATION_INVALID_FIELD,
                field="group",
                value=group,
            )
        self._units.refuse_reentry()
        heard: list[tuple[Order, Fill]] = []
        with self._locks.all_of([group.group_id, *(leg.idempotency_key for leg in group.legs)]):
            known = self._groups.get(group.group_id)
            if known is not None:
                return self._repeat(known, group)
            # On a shared store every leg claims its key first: a key another stream used
            # refuses the group. A held leg gives its claim back (nothing of it is stored;
            # it must not block the key elsewhere) and claims it again when released.
            keys = {leg.idempotency_key: leg.intent for leg in group.legs}
            holder, contexts = self._open(group, self._intents.claim_keys(keys))
            held = [leg.idempotency_key for leg in group.legs if leg.held]
            self._intents.release_keys(list(keys) if holder.reason is not None else held)
            for role, ctx in contexts:
                self._send_leg(holder, role, ctx)
                heard.extend(ctx.heard)
                heard.extend(self._settle(holder, None))
            status = self.status(group.group_id)
        return delivered(status, self._notify(heard))

    def _open(
        self, group: ContingentGroup, elsewhere: Mapping[str, object]
    ) -> tuple[_Group, list[tuple[str, RunContext]]]:
        """Stages 2-4 of every leg sent now, then all written ahead, or the group refused."""
        units, services = self._units, self._services
        contexts: list[tuple[str, RunContext]] = []
        with units.unit() as unit:
            holder = _Group(group, ContingentMachine(group, services.audit, engine=services.engine))
            refusal = self._check_legs(group, elsewhere)
            for leg in group.legs:
                if refusal is not None or leg.held:
                    continue
                ctx = intake.run(leg.intent, leg.idempotency_key, services)
                contexts.append((leg.role, ctx))
                if not run_stages(ctx, self._pipeline.up_to_dispatch[:-1]):
                    refusal = f"leg {leg.role} stopped: {ctx.reason_code} {ctx.detail}"
            if refusal is not None:
                holder.reason, holder.detail = ReasonCode.CONTINGENT_GROUP_REFUSED, refusal
                for _role, ctx in contexts:
                    why = f"group {group.group_id} refused: {refusal}"
                    if ctx.run.state is PipelineState.DISPATCH:
                        ctx.stop("fail", ReasonCode.CONTINGENT_GROUP_REFUSED, why)
                    elif ctx.run.state is PipelineState.PAUSED:
                        ctx.stop("abandon", ReasonCode.CONTINGENT_GROUP_REFUSED, why)
                    units.finish(ctx)
                holder.machine.send(
                    "refuse",
                    reason_code=ReasonCode.CONTINGENT_GROUP_REFUSED,
                    detail=canonical_json({"terms": group.terms(), "why": refusal}),
                )
                contexts = []
            else:
                for role, ctx in contexts:
                    dispatch.write_ahead(ctx, services=services)
                    holder.unsent.add(role)
                holder.machine.send("accept", detail=canonical_json({"terms": group.terms()}))
                self._register(holder)
            self._groups[group.group_id] = holder
        units.flush(unit.last_seq)  # the write-ahead of every leg, with the group's terms
        return holder, contexts

    def _check_legs(self, group: ContingentGroup, elsewhere: Mapping[str, object]) -> str | None:
        """Why the group cannot be taken before any stage runs (a key used, here or by
        another stream, `elsewhere`; a held leg's terms), or None."""
        for leg in group.legs:
            if (
                self._units.results.get(leg.idempotency_key) is not None
                or leg.client_order_id in self.legs
                or leg.idempotency_key in elsewhere
            ):
                return f"leg {leg.role}: its idempotency key was already submitted"
            if leg.held:  # checked now: refused after the entry filled, it leaves no exit
                instrument = self._services.instruments.get(leg.intent.symbol)
                try:
                    for guard in g.CONTRACT_GUARDS:
                        guard(leg.intent)
                    check_intent(leg.intent, instrument)
                except ContractViolation as exc:
                    return f"leg {leg.role}: {exc.reason} {exc}"
        return None

    def _register(self, holder: _Group) -> None:
        for leg in holder.group.legs:
            self.legs[leg.client_order_id] = (holder, leg.role)

    def _send_leg(self, holder: _Group, role: str, ctx: RunContext) -> None:
        """Send a written-ahead leg, unless its group cancelled it meanwhile."""
        units = self._units
        holder.unsent.discard(role)
        if role in holder.skip:
            with units.unit() as unit:
                detail = f"group {holder.group.group_id} cancelled {role} before it was sent"
                ctx.stop("fail", ReasonCode.CONTINGENT_LEG_NOT_SENT, detail)
                units.finish(ctx)
            units.flush(unit.last_seq)
            return
        self._intents._send(ctx)  # the venue call, kept as a single intent's is
        with units.unit() as unit:
            run_stages(ctx, self._pipeline.after_send)
            units.finish(ctx)
        units.flush(unit.last_seq)

    def _repeat(self, known: _Group, group: ContingentGroup) -> GroupStatus:
        """A group id seen before: the same terms are a duplicate, others a conflict."""
        same = known.group.terms() == group.terms()
        reason = ReasonCode.DUPLICATE_INTENT if same else ReasonCode.IDEMPOTENCY_CONFLICT
        outcome = AuditOutcome.DUPLICATE if same else AuditOutcome.REFUSED
        detail = f"group {group.group_id} already submitted" + ("" if same else " (other terms)")
        seq = self._units.append(
            AuditEntry(
                correlation_id=group.group_id,
                client_order_id=None,
                machine=ContingentMachine.audit_machine,
                event="submit_group",
                source=str(known.machine.state),
                target=None,
                outcome=outcome,
                reason_code=reason,
                detail=detail,
            )
        )
        self._units.flush(seq)
        if not same:
            raise IdempotencyConflict(
                f"group: id {group.group_id!r} was first used with other terms; nothing was sent",
                reason=ReasonCode.IDEMPOTENCY_CONFLICT,
                idempotency_key=group.group_id,
                differences={"terms": (known.group.terms(), group.terms())},
            )
        return attrs.evolve(self.status(group.group_id), duplicate=True)

    # -- the legs' events --------------------------------------------------------------------

    def handle_event(self, event: ExecutionEvent) -> EventOutcome:
        """
        A venue event of a leg (the `EventProcessor` hands it over): applied as any order's
        event, then the group reacts to it, under the locks of the whole group.
        """
        holder, role = self.legs[event.client_order_id]
        with self._locks.all_of(holder.keys):
            outcome, heard = self._events._handle_event(event)
            heard += self._settle(holder, Cause(role, EventKind(event.kind)))
        return delivered(outcome, self._notify(heard))

    def after_request(self, client_order_id: str) -> None:
        """
        An operator cancelled or amended a leg: the group re-reads its legs.
        """
        holder, _role = self.legs[client_order_id]
        with self._locks.all_of(holder.keys):
            heard = self._settle(holder, None)
        delivered(None, self._notify(heard))

    def _view(self, holder: _Group) -> GroupView:
        orders = self._services.orders
        legs: dict[str, LegView] = {}
        for leg in holder.group.legs:
            order = orders.order(leg.client_order_id)
            legs[leg.role] = (
                LegView(leg.role, None)
                if order is None
                else LegView(leg.role, order.state, order.filled_quantity, order.quantity)
            )
        return GroupView(holder.group, legs)

    def _settle(self, holder: _Group, cause: Cause | None) -> list[tuple[Order, Fill]]:
        """React until the group stays where it is, each step durable before its actions;
        the fills booked by the answers to its cancels and resizes (for the subscribers)."""
        units = self._units
        heard: list[tuple[Order, Fill]] = []
        for _ in range(8):
            view = self._view(holder)
            reaction = plan.react(view, holder.machine.state, cause)
            cause = None
            if reaction == plan.NOTHING:
                return heard
            with units.unit() as unit:
                holder.machine.take(reaction, view)
                if reaction.reason is not None and reaction.reason not in holder.flags:
                    holder.flags.append(reaction.reason)
                if reaction.reason in _FLAGGED_ON_LEGS:
                    self._flag_legs(holder, reaction.reason, reaction.detail)
            units.flush(unit.last_seq)
            for action in reaction.actions:
                cause = self._perform(holder, action, heard) or cause
            if reaction.event is None and cause is None:
                return heard
        return heard

    def _flag_legs(self, holder: _Group, reason: ReasonCode, detail: str) -> None:
        """Flag the group's live and filled OCO legs for reconciliation (within a unit)."""
        services = self._services
        for role in holder.group.oco_roles:
            lifecycle = services.orders.get(holder.group.leg(role).client_order_id)
            if lifecycle is None or reason in lifecycle.order.recon_flags:
                continue
            lifecycle.flag_for_reconciliation(reason, f"group {holder.group.group_id}: {detail}")
            recon.hand_off(lifecycle, services, "contingent")
            self._units.stage_order(lifecycle)

    def _perform(
        self, holder: _Group, action: Action, heard: list[tuple[Order, Fill]]
    ) -> Cause | None:
        """Carry out one action (the fills its answers booked go to `heard`); the leg event
        it amounts to, for the next reaction."""
        leg = holder.group.leg(action.role)
        cid = leg.client_order_id
        if action.kind == "release":
            assert action.quantity is not None  # noqa: S101 - a release names its quantity
            why = None
            try:  # never an exception into the venue feed delivering the fill
                result = self._intents.submit(attrs.evolve(leg.intent, quantity=action.quantity))
            except (ContractViolation, PolicyViolation) as exc:  # audited where raised
                why = f"refused: {exc.reason} {exc}"  # e.g. its key used by another stream
            else:
                if not result.success or result.order is None:
                    why = f"stopped at {result.pipeline_state}: {result.reason_code}"
                elif self._services.orders.get(cid) is None:  # another stream's result
                    why = "not sent: another stream already used its idempotency key"
            if why is not None:
                self._flag_release(holder, action.role, why)
            return None
        if action.kind == "cancel" and action.role in holder.unsent:
            holder.skip.add(action.role)  # never sent: it will not be
            return None
        try:
            _known, adapter = self._events._dispatched(cid)
            if action.kind == "resize" and isinstance(adapter, ReplacingAdapter):
                _, booked = self._events._replace(cid, adapter, action.quantity, None)
            else:  # a cancel; or a venue that cannot reduce it: cancelled, the safe side
                _, booked = self._events._cancel(cid, adapter)
        except (ContractViolation, PolicyViolation):
            return None
        heard.extend(booked)
        now = self._services.orders.order(cid)
        if action.kind == "cancel" and now is not None and now.state in plan.LIVE:
            return Cause(action.role, EventKind.CANCEL_REJECT)
        return None

    def _flag_release(self, holder: _Group, role: str, why: str) -> None:
        units = self._units
        reason = ReasonCode.CONTINGENT_RELEASE_REFUSED
        detail = f"{role} released, {why}"
        with units.unit() as unit:
            state = str(holder.machine.state)
            holder.machine.record("flag", AuditOutcome.APPLIED, reason, detail, target=state)
            if reason not in holder.flags:
                holder.flags.append(reason)
        units.flush(unit.last_seq)

    # -- status and recovery -------------------------------------------------------------------

    def status(self, group_id: str) -> GroupStatus:
        """
        The group `group_id` as it stands; a `ContractViolation` if there is none.
        """
        holder = self._groups.get(group_id)
        if holder is None:
            raise ContractViolation(
                f"group_id: no contingent group has id {group_id!r}",
                reason=ReasonCode.VALIDATION_INVALID_FIELD,
                field="group_id",
                value=group_id,
            )
        orders = self._services.orders
        return GroupStatus(
            group_id=group_id,
            kind=holder.group.kind,
            mode=holder.group.mode,
            state=holder.machine.state,
            legs={leg.role: orders.order(leg.client_order_id) for leg in holder.group.legs},
            flags=tuple(holder.flags),
            reason_code=holder.reason,
            reason_detail=holder.detail,
        )

    def resume(self, group_id: str) -> GroupStatus:
        """
        Send what a group owes after a restart (`interrupted`): the cancels of a triggered
        group's other legs, the release of held legs, then its reaction to its legs.
        """
        self._units.refuse_reentry()
        self.status(group_id)
        holder = self._groups[group_id]
        with self._locks.all_of(holder.keys):
            view = self._view(holder)
            heard: list[tuple[Order, Fill]] = []
            for action in plan.owed_actions(view, holder.machine.state):
                self._perform(holder, action, heard)
            heard += self._settle(holder, None)
        return delivered(self.status(group_id), self._notify(heard))

    def _recover(self) -> tuple[str, ...]:
        """Rebuild every group of the trail; flag those owing a reaction."""
        audit = self._services.audit
        found: dict[str, list[Any]] = {}
        for record in audit.records:
            if record.machine == ContingentMachine.audit_machine:
                found.setdefault(record.correlation_id, []).append(record)
        if not found:
            return ()
        interrupted = []
        with self._units.unit() as unit:
            for group_id, records in found.items():
                first = records[0]
                group = ContingentGroup.from_terms(json.loads(first.detail)["terms"])
                applied = [r for r in records if r.outcome is AuditOutcome.APPLIED]
                state = GroupState(applied[-1].target)
                machine = ContingentMachine(
                    group, audit, start_value=state, engine=self._services.engine
                )
                holder = _Group(group, machine)
                if state is GroupState.REFUSED:
                    holder.reason = ReasonCode.CONTINGENT_GROUP_REFUSED
                    holder.detail = str(json.loads(first.detail).get("why", ""))
                for record in applied:
                    code = record.reason_code
                    if (
                        isinstance(code, ReasonCode)
                        and code.name.startswith("CONTINGENT_")
                        and code not in holder.flags
                    ):
                        holder.flags.append(code)
                self._groups[group_id] = holder
                if state is GroupState.REFUSED:
                    continue
                self._register(holder)
                owed = self._owed(holder, records)
                if owed:
                    reason = ReasonCode.CONTINGENT_REACTION_INTERRUPTED
                    detail = "owed at restart: " + "; ".join(owed)
                    machine.record("flag", AuditOutcome.APPLIED, reason, detail, target=str(state))
                    if reason not in holder.flags:
                        holder.flags.append(reason)
                    interrupted.append(group_id)
        self._units.flush(unit.last_seq)
        return tuple(interrupted)

    def _owed(self, holder: _Group, records: list[Any]) -> list[str]:
        """What the group owes that was never sent (see `plan.due`, and the cancels)."""
        view = self._view(holder)
        state = holder.machine.state
        owed = list(plan.due(view, state))
        triggers = [r.seq for r in records if r.event == "trigger" and r.target is not None]
        if state is GroupState.TRIGGERED and triggers:
            for action in plan.owed_actions(view, state):
                if action.kind != "cancel":
                    continue  # resizes: `plan.due` named them
                leg = holder.group.leg(action.role)
                asked = any(
                    r.seq > triggers[-1] and r.event in ("request_cancel", "cancel_attempt")
                    for r in self._services.audit.by_correlation(_correlation_of(leg))
                )
                if not asked:
                    owed.append(str(action))
        return owed


def _correlation_of(leg: Any) -> str:
    correlation_id, _ = intake.ids_of(leg.idempotency_key)
    return correlation_id
