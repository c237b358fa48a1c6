"""
`Reconciler`: the reconciliation pass. It takes each order that needs the venue's word
(flagged, or waiting on the venue longer than `ReconPolicy.in_flight_after`; at startup every
order in flight), asks the venue (`execfsm.typing.QueryingAdapter`), and takes the answer
through the order's `OrderReconciliation` machine: agreement clears the order's flags; a
venue that knows more has its events applied to the order through the order machine's own
events, each marked by an ``apply`` record; an impossible report holds the order for an
operator; an order the venue never had ends REJECTED by the not-found rule.

It only ever asks: nothing is sent to trade, so nothing can be sent twice. Each order's
question is asked under the order's lock, and its answer taken in one unit of work with
everything it changes (order, positions, flags, records); the units are made durable a batch
at a time (nothing was sent: a stop before the commit only means the next pass asks again),
and fill subscribers hear of a fill only once it is durable.
A full pass (startup, `execfsm reconcile`) also reports the venue's working orders we have
no record of (adopting them if the policy says so) and compares positions.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import TYPE_CHECKING

from execfsm.adapters.reports import VenueOrderReport
from execfsm.contracts import (
    IN_FLIGHT_ORDER_STATES,
    ExecutionEvent,
    Fill,
    Order,
    OrderState,
    ReasonCode,
)
from execfsm.errors import ContractViolation
from execfsm.fsm.audit import AuditOutcome
from execfsm.fsm.order import OrderLifecycle
from execfsm.orchestration.intents import Notify
from execfsm.orchestration.locks import StripedLocks
from execfsm.orchestration.units import WorkUnits
from execfsm.reconciliation.compare import compare_order, shown, venue_had
from execfsm.reconciliation.findings import Finding, FindingKind, ReconPolicy
from execfsm.reconciliation.machine import (
    OrderReconciliation,
    ReconState,
    asked,
    not_found_rule,
)
from execfsm.reconciliation.pass_machine import ReconciliationPass
from execfsm.reconciliation.report import OrderCheck, PositionDifference, ReconReport
from execfsm.reconciliation.venue_side import adoption, external_orders, position_differences
from execfsm.stages import post_trade, recon
from execfsm.typing import Clock, OrderAdapter, QueryingAdapter
from execfsm.validators import instance_of

if TYPE_CHECKING:
    from execfsm.contingent.orders import ContingentOrders

_WAITING_ON_VENUE = frozenset(
    {OrderState.SUBMITTED, OrderState.PENDING_CANCEL, OrderState.PENDING_REPLACE}
)
_Heard = list[tuple[Order, Fill]]
_COMMIT_EVERY = 256
_POLICY = instance_of(ReconPolicy, optional=True)
"""Orders a pass checks between two commits."""


class Reconciler:
    """
    Runs reconciliation passes over the books of `units`, asking `adapter` (the mode's; an
    order keeps the adapter it was sent to), one pass at a time.
    """

    contingent: ContingentOrders | None = None
    """The contingent groups: a reconciled leg makes its group re-read its legs."""

    def __init__(
        self,
        units: WorkUnits,
        locks: StripedLocks,
        adapter: OrderAdapter | None,
        notify: Notify,
        policy: ReconPolicy | None = None,
    ) -> None:
        self._units = units
        self._services = units.services
        self._locks = locks
        self._adapter = adapter
        self._notify = notify
        _POLICY.check(policy, "reconciliation")
        self.policy = policy if policy is not None else ReconPolicy()
        self._machines: dict[str, OrderReconciliation] = {}
        self._one_pass = threading.Lock()
        self._heard: _Heard = []
        """Fills booked by this pass and not yet durable, for the fill subscribers."""
        self._told: _Heard = []
        """Fills booked by this pass and durable: told once the pass lets go of its lock."""

    @property
    def can_ask(self) -> bool:
        """Whether the mode's adapter answers queries."""
        return isinstance(self._adapter, QueryingAdapter)

    def machine(self, client_order_id: str) -> OrderReconciliation:
        """
        The order's reconciliation machine, re-opened from the trail where it left it (with
        its not-found count) the first time it is asked for.
        """
        machine = self._machines.get(client_order_id)
        if machine is None:
            services = self._services
            machine = OrderReconciliation.reopened(
                client_order_id, services.audit, self.policy, services.engine
            )
            self._machines[client_order_id] = machine
        return machine

    def on_start(self, clock: Clock, recovered: int) -> ReconReport | None:
        """
        The full pass a session re-opened from a store (`recovered` records) runs before it
        takes new work, if the policy says so and the adapter can answer; else None (and
        the clock is not read: a replayable clock steps only for what happens).
        """
        if recovered and self.policy.on_start and self.can_ask:
            return self.run(clock.now(), full=True)
        return None

    # -- the pass ----------------------------------------------------------------------------

    def run(self, now: datetime, *, full: bool = False) -> ReconReport:
        """
        One pass at `now`: every flagged order, and every order waiting on the venue longer
        than the policy's ``in_flight_after`` (with `full`, every order in flight), is asked
        of the venue and brought to its truth, resolved by the not-found rule, or held for
        an operator. A `full` pass also reports the venue's working orders we have no record
        of (adopting them if the policy says so) and compares positions. Nothing is sent to
        trade.
        """
        with self._one_pass:
            report = self._pass(now, full)
            heard, self._told = self._told, []
        self._notify(heard)  # outside the pass: a subscriber may call back in
        return report

    def _pass(self, now: datetime, full: bool) -> ReconReport:
        """`run`, under its lock, the fills it booked kept for the subscribers."""
        tag = str(len(self._services.audit) + 1)
        pass_machine = ReconciliationPass(self._services.audit, correlation_id=f"recon-pass:{tag}")
        checks: list[OrderCheck] = []
        for count, client_order_id in enumerate(self._candidates(now, full), 1):
            checks.append(self._check_order(client_order_id, now, tag))
            if count % _COMMIT_EVERY == 0:
                self._settle()
        self._settle()
        external: tuple[VenueOrderReport, ...] = ()
        adopted: list[str] = []
        differences: tuple[PositionDifference, ...] = ()
        unavailable = "" if self.can_ask else f"adapter {self._adapter!r} cannot answer queries"
        if full and not unavailable:
            try:
                assert isinstance(self._adapter, QueryingAdapter)  # noqa: S101 - can_ask
                external = external_orders(self._adapter, self._services.orders.snapshot())
                for venue_order in external if self.policy.adopt_external else ():
                    check = self._adopt(venue_order, now, tag)
                    if check is not None:
                        checks.append(check)
                        adopted.append(venue_order.client_order_id)
                differences = position_differences(
                    self._adapter, self._services.positions.snapshot()
                )
            except Exception as exc:  # noqa: BLE001 - a pass reports what the venue could not tell
                unavailable = f"the venue could not answer: {type(exc).__name__}: {exc}"
        report = ReconReport(
            pass_machine.correlation_id,
            tuple(checks),
            external,
            tuple(adopted),
            differences,
            unavailable,
        )
        self._finish(pass_machine, report)
        return report

    def _candidates(self, now: datetime, full: bool) -> list[str]:
        chosen = []
        orders = self._services.orders
        for order in orders.snapshot():
            due = order.recon_flags or (full and order.state in IN_FLIGHT_ORDER_STATES)
            if due or (order.state in _WAITING_ON_VENUE and self._waited(order, now)):
                lifecycle = orders.get(order.client_order_id)
                if lifecycle is not None and lifecycle.submitted:  # else no venue can know it
                    chosen.append(order.client_order_id)
        return chosen

    def _waited(self, order: Order, now: datetime) -> bool:
        """Whether the order's last record is at least `in_flight_after` before `now`."""
        last = None
        for record in self._services.audit.by_correlation(order.correlation_id):
            if record.client_order_id == order.client_order_id:
                last = record.ts
        return last is not None and now - last >= self.policy.in_flight_after

    def _check_order(self, client_order_id: str, now: datetime, tag: str) -> OrderCheck:
        services = self._services
        known = services.orders.order(client_order_id)
        if known is None:  # orders are never removed
            raise KeyError(f"reconciliation: order {client_order_id} vanished")
        adapter = services.adapter_of.get(client_order_id, self._adapter)
        with self._locks.of(known.idempotency_key):
            machine = self.machine(client_order_id)
            if machine.state is ReconState.HELD:
                detail = machine.last_finding.detail if machine.last_finding else "held"
                return OrderCheck(
                    client_order_id, None, machine.state, f"held for an operator: {detail}"
                )
            lifecycle = services.orders.get(client_order_id)
            assert lifecycle is not None  # noqa: S101 - known above
            if machine.state is ReconState.NOT_FOUND:
                if not lifecycle.order.recon_flags:
                    detail = "resolved before: not found"
                    return OrderCheck(client_order_id, None, machine.state, detail)
                machine = self._next_generation(machine)  # the venue showed it after all
            before = lifecycle.order
            report, finding = self._ask(adapter, lifecycle, tag, now)
            with self._units.unit():
                check, heard = self._take(machine, lifecycle, report, finding, tag, now)
                self._units.stage_order(lifecycle)
        self._heard += heard
        groups = self.contingent
        if groups is not None and client_order_id in groups.legs and lifecycle.order != before:
            self._settle()  # the group reacts to a durable leg
            groups.after_request(client_order_id)
        return check

    def _next_generation(self, machine: OrderReconciliation) -> OrderReconciliation:
        """A new instance for an order resolved as not found that was flagged since."""
        services = self._services
        fresh = OrderReconciliation(
            machine.client_order_id,
            services.audit,
            policy=self.policy,
            engine=services.engine,
            generation=machine.generation + 1,
        )
        self._machines[machine.client_order_id] = fresh
        return fresh

    def _settle(self) -> None:
        """
        Make the orders checked so far durable (one commit for many: nothing was sent, so
        a stop before it only means the next pass asks again); their fills may be told.
        """
        self._units.flush()
        self._told += self._heard
        self._heard = []

    def _ask(
        self, adapter: OrderAdapter | None, lifecycle: OrderLifecycle, tag: str, now: datetime
    ) -> tuple[VenueOrderReport | None, Finding]:
        order = lifecycle.order
        cid = order.client_order_id
        if not isinstance(adapter, QueryingAdapter):
            why = f"order {cid}: its adapter cannot answer queries"
            return None, Finding(FindingKind.UNANSWERED, why, reason=ReasonCode.RECON_QUERY_FAILED)
        try:
            latest = order.current_client_order_id  # a venue closes an id a replace took
            report = adapter.order_report(latest)
            if report is None and latest != cid:
                report = adapter.order_report(cid)
        except Exception as exc:  # noqa: BLE001 - one unanswered question stops nothing
            why = f"order {cid}: the venue could not answer: {type(exc).__name__}: {exc}"
            return None, Finding(FindingKind.UNANSWERED, why, reason=ReasonCode.RECON_QUERY_FAILED)
        if report is not None and (
            not isinstance(report, VenueOrderReport)
            or report.client_order_id not in (cid, order.venue_client_order_id)
        ):
            why = f"order {cid}: the venue answered with {report!r}, not a report of this order"
            return None, Finding(FindingKind.UNANSWERED, why, reason=ReasonCode.RECON_QUERY_FAILED)
        return report, compare_order(lifecycle, report, tag, now)

    def _take(
        self,
        machine: OrderReconciliation,
        lifecycle: OrderLifecycle,
        report: VenueOrderReport | None,
        finding: Finding,
        tag: str,
        now: datetime,
    ) -> tuple[OrderCheck, _Heard]:
        """Take `finding` through the machine, and the order where it says; in a unit."""
        cid = lifecycle.client_order_id
        if machine.state is ReconState.AGREED:
            machine.send("reopen", detail=f"order {cid} needs the venue's word again")
        kind = finding.kind
        if kind is FindingKind.AGREES:
            return self._agree(machine, lifecycle, finding), []
        if kind in (FindingKind.UNANSWERED, FindingKind.BEHIND):
            machine.send(
                "unanswered", finding=finding, reason_code=finding.reason, detail=finding.detail
            )
            if kind is FindingKind.UNANSWERED and not lifecycle.order.recon_flags:
                # no usable answer (an incomplete one included) about an order checked only
                # because the pass was full: flagged, so every later pass asks again
                lifecycle.flag_for_reconciliation(ReasonCode.RECON_QUERY_FAILED, finding.detail)
            return OrderCheck(cid, kind, machine.state, finding.detail), []
        if kind is FindingKind.UNKNOWN:
            return self._not_known(machine, lifecycle, finding, tag, now), []
        if kind is FindingKind.IMPOSSIBLE:
            return self._hold(machine, lifecycle, finding), []
        machine.send("differ", finding=finding, detail=finding.detail)
        heard: _Heard = []
        for event in finding.events:
            what = f"{shown(event)} applied to order {cid} from the venue's report"
            machine.send("apply", finding=finding, venue_event=event, detail=what)
            outcome = lifecycle.apply(event)
            heard += post_trade.book_outcome(lifecycle, outcome, self._services)
        again = compare_order(lifecycle, report, tag, now)
        if again.kind is FindingKind.AGREES:
            check = self._agree(machine, lifecycle, again)
        else:
            stuck = Finding(
                FindingKind.IMPOSSIBLE,
                f"order {cid}: the venue's events did not bring it to the venue's state: "
                f"{again.detail}",
                reason=ReasonCode.RECON_REPORT_IMPOSSIBLE,
            )
            check = self._hold(machine, lifecycle, stuck)
        recon.hand_off(lifecycle, self._services, "reconciliation")
        return OrderCheck(cid, kind, check.state, check.detail, len(finding.events)), heard

    def _agree(
        self, machine: OrderReconciliation, lifecycle: OrderLifecycle, finding: Finding
    ) -> OrderCheck:
        machine.send(
            "agree", finding=finding, reason_code=ReasonCode.RECON_AGREED, detail=finding.detail
        )
        if lifecycle.order.recon_flags:
            lifecycle.clear_reconciliation_flags(finding.detail)
        return OrderCheck(lifecycle.client_order_id, finding.kind, machine.state, finding.detail)

    def _hold(
        self, machine: OrderReconciliation, lifecycle: OrderLifecycle, finding: Finding
    ) -> OrderCheck:
        machine.send("hold", finding=finding, reason_code=finding.reason, detail=finding.detail)
        lifecycle.flag_for_reconciliation(ReasonCode.RECON_REPORT_IMPOSSIBLE, finding.detail)
        return OrderCheck(lifecycle.client_order_id, finding.kind, machine.state, finding.detail)

    def _not_known(
        self,
        machine: OrderReconciliation,
        lifecycle: OrderLifecycle,
        finding: Finding,
        tag: str,
        now: datetime,
    ) -> OrderCheck:
        cid = lifecycle.client_order_id
        policy = self.policy
        met, count, waited = not_found_rule(machine.misses, machine.first_miss, now, policy)
        if not met:
            detail = (
                f"{finding.detail} ({count} of {policy.not_found_after} answers, "
                f"{waited} of {policy.not_found_wait})"
            )
            machine.send("unknown", finding=finding, now=now, detail=asked(detail, now))
            return OrderCheck(cid, finding.kind, machine.state, detail)
        if venue_had(lifecycle):  # not a lag: the venue lost an order it had
            lost = Finding(
                FindingKind.IMPOSSIBLE,
                f"the venue does not know order {cid}, which it acknowledged or filled, in "
                f"{count} answers over {waited}",
                reason=ReasonCode.RECON_REPORT_IMPOSSIBLE,
            )
            return self._hold(machine, lifecycle, lost)
        detail = (
            f"the venue did not know order {cid} in {count} answers over {waited}: it never "
            "reached the venue; not re-sent"
        )
        machine.send(
            "give_up",
            finding=finding,
            now=now,
            reason_code=ReasonCode.RECON_ORDER_NOT_FOUND,
            detail=asked(detail, now),
        )
        if lifecycle.submitted and not lifecycle.is_final:
            order = lifecycle.order
            event = ExecutionEvent.reject(
                order, f"recon-{tag}-{cid}-not_found", now, ReasonCode.RECON_ORDER_NOT_FOUND, detail
            )
            lifecycle.apply(event)
        if lifecycle.order.recon_flags:
            lifecycle.clear_reconciliation_flags(detail)
        recon.hand_off(lifecycle, self._services, "reconciliation")
        return OrderCheck(cid, finding.kind, machine.state, detail)

    def release(self, client_order_id: str, detail: str) -> None:
        """
        An operator looked at an order held for them: the next pass asks the venue again.

        Raises:
            ContractViolation: the order is unknown, or not held.
        """
        known = self._services.orders.order(client_order_id)
        if known is None:
            raise ContractViolation(
                f"client_order_id: no order has id {client_order_id!r}",
                reason=ReasonCode.EVENT_UNKNOWN_ORDER,
                field="client_order_id",
                value=client_order_id,
            )
        with self._locks.of(known.idempotency_key):
            machine = self.machine(client_order_id)
            if machine.state is not ReconState.HELD:
                raise ContractViolation(
                    f"client_order_id: order {client_order_id} is not held for an operator "
                    f"(reconciliation: {machine.state})",
                    reason=ReasonCode.ILLEGAL_TRANSITION,
                    field="client_order_id",
                    value=client_order_id,
                )
            with self._units.unit() as unit:
                machine.send("release", detail=detail)
            self._units.flush(unit.last_seq)

    # -- a full pass: the venue's side ---------------------------------------------------------

    def _adopt(self, report: VenueOrderReport, now: datetime, tag: str) -> OrderCheck | None:
        """
        Take the venue's order `report` as one of ours: an order machine started by an
        ``adopt`` record carrying its terms, submitted, then brought to the venue's state by
        its events, in one unit of work. None if its terms are not an order we can hold.
        """
        services = self._services
        if not report.client_order_id or services.orders.order(report.client_order_id):
            return None  # no id to hold it by, or adopted already: reported, not adopted
        adoptable = adoption(report, services.clock, services.engine)
        if adoptable is None:
            return None  # terms we cannot hold: reported, not adopted
        order, terms = adoptable
        cid, key = order.client_order_id, order.idempotency_key
        lifecycle = OrderLifecycle(order, services.audit, engine=services.engine)
        with self._locks.of(key):
            with self._units.unit() as unit:
                lifecycle.record(
                    "adopt",
                    AuditOutcome.APPLIED,
                    ReasonCode.RECON_EXTERNAL_ORDER,
                    terms,
                )
                lifecycle.send("submit")
                services.orders.add(lifecycle)
                if self._adapter is not None:
                    services.adapter_of[cid] = self._adapter
                machine = self.machine(cid)
                finding = compare_order(lifecycle, report, tag, now)
                check, heard = self._take(machine, lifecycle, report, finding, tag, now)
                self._units.stage_order(lifecycle)
            self._units.flush(unit.last_seq)
        self._told += heard
        return check

    def _finish(self, pass_machine: ReconciliationPass, report: ReconReport) -> None:
        """The pass's own records: what it found at the venue, and its summary."""
        with self._units.unit() as unit:
            for venue_order in report.external:
                adopted = venue_order.client_order_id in report.adopted
                pass_machine.note_external(venue_order, adopted)
            for difference in report.positions:
                pass_machine.note_position(difference)
            pass_machine.summarize(report)
        self._units.flush(unit.last_seq)
