"""Operator read commands (``drawdown meters|usage|grants|balance|transactions|invoices|invoice``).

They speak the public gRPC API with an API key like any client: human tables by default
(rich), ``--json`` for scripts. Amounts print exactly, in major units with the currency.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message
from rich.console import Console
from rich.table import Table

from drawdown.command_errors import CommandError
from drawdown.config import Settings
from drawdown.credits.v1 import credit_balance_service_pb2 as balance_pb
from drawdown.credits.v1 import credit_balance_service_pb2_grpc as balance_grpc
from drawdown.credits.v1 import credit_grant_service_pb2 as grant_pb
from drawdown.credits.v1 import credit_grant_service_pb2_grpc as grant_grpc
from drawdown.invoicing.v1 import invoice_service_pb2 as invoice_pb
from drawdown.invoicing.v1 import invoice_service_pb2_grpc as invoice_grpc
from drawdown.metering.v1 import meter_event_pb2, meter_pb2
from drawdown.metering.v1 import meter_event_service_pb2 as event_pb
from drawdown.metering.v1 import meter_event_service_pb2_grpc as event_grpc
from drawdown.metering.v1 import meter_service_pb2 as meter_pb
from drawdown.metering.v1 import meter_service_pb2_grpc as meter_grpc
from drawdown.rpc.clients import auth_metadata
from drawdown.rpc.convert import money_from_proto

TIMEOUT_SECONDS = 30
# Piped output has no terminal width to fit: rows as wide as their content, ids whole.
PIPED_WIDTH = 10_000


# ---- formatting -------------------------------------------------------------------


def money(message: Message) -> str:
    """google.type.Money as "90.00 USD" (exact); empty when unset."""
    if not message.currency_code:  # type: ignore[attr-defined]
        return ""
    return str(money_from_proto(message, "amount"))  # type: ignore[arg-type]


def timestamp(message: Message) -> str:
    if not message.seconds and not message.nanos:  # type: ignore[attr-defined]
        return ""
    return message.ToDatetime(tzinfo=UTC).isoformat().replace("+00:00", "Z")  # type: ignore[attr-defined]


def enum(message: Message, field: str) -> str:
    """An enum field's value name without its type prefix, lower case (``paid``)."""
    descriptor = message.DESCRIPTOR.fields_by_name[field].enum_type
    name = descriptor.values_by_number[getattr(message, field)].name
    prefix = "".join("_" + c if c.isupper() else c for c in descriptor.name).lstrip("_").upper() + "_"
    return name.removeprefix(prefix).lower()


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[Any], str]
    numeric: bool = False
    no_wrap: bool = False  # kept on one line however narrow the terminal (ids to copy whole)


def render(console: Console, title: str, rows: Sequence[Any], columns: Sequence[Column]) -> None:
    table = Table(title=title, title_justify="left")
    cells = [[column.value(row) for column in columns] for row in rows]
    for index, column in enumerate(columns):
        # Fold rather than truncate: operators copy ids out of these tables.
        table.add_column(
            column.header,
            justify="right" if column.numeric else "left",
            overflow="fold",
            no_wrap=column.no_wrap,
            min_width=max((len(row[index]) for row in cells), default=0) if column.no_wrap else None,
        )
    for row in cells:
        table.add_row(*row)
    console.print(table)


def print_json(console: Console, messages: Sequence[Message] | Message) -> None:
    if isinstance(messages, Message):
        data: Any = json_format.MessageToDict(messages, preserving_proto_field_name=True)
    else:
        data = [json_format.MessageToDict(m, preserving_proto_field_name=True) for m in messages]
    console.print_json(json.dumps(data))


# ---- client plumbing ----------------------------------------------------------------


class Client:
    """Channels to the three services and the API key, from settings."""

    def __init__(self, settings: Settings, api_key: str | None = None) -> None:
        self.metadata = auth_metadata(api_key or resolve_api_key(settings))
        self.channels = {
            service: grpc.intercept_channel(
                grpc.insecure_channel(address), _NamesUnreachable(service, address)
            )
            for service, address in (
                ("metering", settings.metering_address),
                ("credits", settings.credits_address),
                ("invoicing", settings.invoicing_address),
            )
        }
        self.meters = meter_grpc.MeterServiceStub(self.channels["metering"])
        self.meter_events = event_grpc.MeterEventServiceStub(self.channels["metering"])
        self.grants = grant_grpc.CreditGrantServiceStub(self.channels["credits"])
        self.balances = balance_grpc.CreditBalanceServiceStub(self.channels["credits"])
        self.invoices = invoice_grpc.InvoiceServiceStub(self.channels["invoicing"])

    def call(self, method: Callable[..., Any], request: Message) -> Any:
        return method(request, metadata=self.metadata, timeout=TIMEOUT_SECONDS)

    def list_all(self, method: Callable[..., Any], request: Message, items: str) -> list[Any]:
        """Every item of a paginated list, following next_page_token."""
        return list(self._pages(method, request, items))

    def _pages(self, method: Callable[..., Any], request: Message, items: str) -> Iterator[Any]:
        request.page_size = 100  # type: ignore[attr-defined]
        while True:
            response = self.call(method, request)
            yield from getattr(response, items)
            if not response.next_page_token:
                return
            request.page_token = response.next_page_token  # type: ignore[attr-defined]

    def close(self) -> None:
        for channel in self.channels.values():
            channel.close()


class _NamesUnreachable(grpc.UnaryUnaryClientInterceptor):
    """Turns UNAVAILABLE into a one-line error naming the service and address not reached."""

    def __init__(self, service: str, address: str) -> None:
        self.service = service
        self.address = address

    def intercept_unary_unary(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        outcome = continuation(client_call_details, request)
        if outcome.code() == grpc.StatusCode.UNAVAILABLE:
            raise CommandError(
                f"cannot reach {self.service} at {self.address} (UNAVAILABLE): is the suite running? "
                f"Start it with `drawdown up`, or set DRAWDOWN_{self.service.upper()}_ADDRESS"
            )
        return outcome


def resolve_api_key(settings: Settings) -> str:
    """DRAWDOWN_API_KEY, else the dev key ``drawdown up`` keeps under DRAWDOWN_HOME."""
    if settings.api_key:
        return settings.api_key
    dev_key = Path(settings.home) / "dev-api-key"
    if not dev_key.exists():
        raise CommandError(
            f"no API key: no dev key at {dev_key.resolve()} (run from the folder of `drawdown up`, "
            "or set DRAWDOWN_HOME to its home); or pass a key with DRAWDOWN_API_KEY or --api-key"
        )
    return dev_key.read_text().strip()


def parse_time(text: str) -> datetime:
    """An ISO 8601 time; without an offset it is read as UTC."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# ---- commands -------------------------------------------------------------------


def _output(
    args: argparse.Namespace, console: Console, title: str, rows: Sequence[Message], columns: Sequence[Column]
) -> None:
    if args.json:
        print_json(console, rows)
    else:
        render(console, title, rows, columns)


def meters(args: argparse.Namespace, client: Client, console: Console) -> None:
    request = meter_pb.ListMetersRequest()
    if args.status:
        request.status = meter_pb2.MeterStatus.Value(f"METER_STATUS_{args.status.upper()}")
    rows = client.list_all(client.meters.ListMeters, request, "meters")
    _output(
        args,
        console,
        "Meters",
        rows,
        [
            Column("id", lambda m: m.id),
            Column("event name", lambda m: m.event_name),
            Column("display name", lambda m: m.display_name),
            Column("formula", lambda m: enum(m, "aggregation_formula")),
            Column("status", lambda m: enum(m, "status")),
        ],
    )


def usage(args: argparse.Namespace, client: Client, console: Console) -> None:
    request = event_pb.ListMeterEventSummariesRequest(
        meter_id=args.meter_id, customer_id=args.customer, group_by=args.group_by or []
    )
    request.start_time.FromDatetime(parse_time(args.start))
    request.end_time.FromDatetime(parse_time(args.end))
    if args.window:
        request.value_grouping_window = meter_event_pb2.ValueGroupingWindow.Value(
            f"VALUE_GROUPING_WINDOW_{args.window.upper()}"
        )
    rows = client.list_all(client.meter_events.ListMeterEventSummaries, request, "meter_event_summaries")
    _output(
        args,
        console,
        f"Usage of {args.meter_id} for {args.customer}",
        rows,
        [
            Column("start", lambda s: timestamp(s.start_time)),
            Column("end", lambda s: timestamp(s.end_time)),
            Column("dimensions", lambda s: ", ".join(f"{k}={v}" for k, v in sorted(s.dimensions.items()))),
            Column("value", lambda s: s.aggregated_value.value, numeric=True),
            Column("events", lambda s: str(s.event_count), numeric=True),
        ],
    )


def grants(args: argparse.Namespace, client: Client, console: Console) -> None:
    rows = client.list_all(
        client.grants.ListCreditGrants,
        grant_pb.ListCreditGrantsRequest(customer_id=args.customer),
        "credit_grants",
    )
    _output(
        args,
        console,
        f"Credit grants of {args.customer}",
        rows,
        [
            Column("id", lambda g: g.id),
            Column("name", lambda g: g.name),
            Column("category", lambda g: enum(g, "category")),
            Column("priority", lambda g: str(g.priority), numeric=True),
            Column("amount", lambda g: money(g.amount), numeric=True),
            Column("available", lambda g: money(g.available_balance), numeric=True),
            Column("ledger", lambda g: money(g.ledger_balance), numeric=True),
            Column("status", lambda g: enum(g, "status")),
            Column("expires", lambda g: timestamp(g.expire_time)),
        ],
    )


def balance(args: argparse.Namespace, client: Client, console: Console) -> None:
    response = client.call(
        client.balances.GetCreditBalanceSummary,
        balance_pb.GetCreditBalanceSummaryRequest(customer_id=args.customer),
    )
    rows = list(response.credit_balance_summary.balances)
    _output(
        args,
        console,
        f"Credit balance of {args.customer}",
        rows,
        [
            Column("available", lambda b: money(b.available_balance), numeric=True),
            Column("ledger", lambda b: money(b.ledger_balance), numeric=True),
        ],
    )


def transactions(args: argparse.Namespace, client: Client, console: Console) -> None:
    request = balance_pb.ListCreditBalanceTransactionsRequest(
        customer_id=args.customer, credit_grant_id=args.grant or ""
    )
    rows = client.list_all(
        client.balances.ListCreditBalanceTransactions, request, "credit_balance_transactions"
    )
    _output(
        args,
        console,
        f"Credit balance transactions of {args.customer}",
        rows,
        [
            Column("id", lambda t: t.id),
            Column("type", lambda t: enum(t, "type")),
            Column(
                "kind", lambda t: enum(t.credit, "type") if t.HasField("credit") else enum(t.debit, "type")
            ),
            Column(
                "amount",
                lambda t: money(t.credit.amount if t.HasField("credit") else t.debit.amount),
                numeric=True,
            ),
            Column("grant", lambda t: t.credit_grant_id),
            Column("invoice", lambda t: t.credit.invoice_id if t.HasField("credit") else t.debit.invoice_id),
            Column("effective", lambda t: timestamp(t.effective_time)),
        ],
    )


INVOICE_COLUMNS = [
    Column("id", lambda i: i.id),
    Column("status", lambda i: enum(i, "status")),
    Column("customer", lambda i: i.customer_id),
    Column("period", lambda i: f"{timestamp(i.period_start)} → {timestamp(i.period_end)}"),
    Column("total", lambda i: money(i.total), numeric=True),
    Column("credits", lambda i: money(i.total_credits_applied), numeric=True),
    Column("amount due", lambda i: money(i.amount_due), numeric=True),
]


def invoices(args: argparse.Namespace, client: Client, console: Console) -> None:
    request = invoice_pb.ListInvoicesRequest(
        customer_id=args.customer or "", subscription_id=args.subscription or ""
    )
    rows = client.list_all(client.invoices.ListInvoices, request, "invoices")
    _output(args, console, "Invoices", rows, INVOICE_COLUMNS)


def invoice(args: argparse.Namespace, client: Client, console: Console) -> None:
    found = client.call(client.invoices.GetInvoice, invoice_pb.GetInvoiceRequest(id=args.invoice_id)).invoice
    if args.json:
        print_json(console, found)
        return
    show_invoice(console, found)


def show_invoice(console: Console, found: Message, title: str | None = None) -> None:
    """An invoice as a person reads it: lines with their credits, then the totals."""
    render(
        console,
        title or f"Invoice {found.id or '(preview)'} · {enum(found, 'status')}",
        list(found.lines),
        [
            Column("line", lambda line: line.description),
            Column("quantity", lambda line: line.quantity.value, numeric=True),
            Column("unit (minor)", lambda line: line.unit_amount_decimal.value, numeric=True),
            Column("amount", lambda line: money(line.amount), numeric=True),
            Column("credits", lambda line: money(line.credits_applied), numeric=True),
        ],
    )
    totals = Table.grid(padding=(0, 2))
    totals.add_column(justify="right")
    totals.add_column(justify="right")
    for label, value in (
        ("subtotal", found.subtotal),
        ("credits applied", found.total_credits_applied),
        ("total", found.total),
        ("amount due", found.amount_due),
    ):
        totals.add_row(label, money(value))
    console.print(totals)


COMMANDS: dict[str, Callable[[argparse.Namespace, Client, Console], None]] = {
    "meters": meters,
    "usage": usage,
    "grants": grants,
    "balance": balance,
    "transactions": transactions,
    "invoices": invoices,
    "invoice": invoice,
}


CUSTOMER_HELP = "the customer's id (cus_...)"


def add_parsers(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the read commands on the ``drawdown`` parser."""

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        parser = commands.add_parser(name, help=help_text)
        parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
        parser.add_argument("--api-key", help="API key (default: DRAWDOWN_API_KEY, then the dev key)")
        parser.set_defaults(run=run_read_command, read_command=name)
        return parser

    listing = command("meters", "list meters")
    listing.add_argument("--status", choices=["active", "inactive"], help="only meters with this status")
    usage_parser = command("usage", "usage summary of a meter for a customer")
    usage_parser.add_argument("meter_id", help="the meter's id (mtr_...)")
    usage_parser.add_argument("--customer", required=True, help="the customer's id (cus_...)")
    usage_parser.add_argument("--start", required=True, help="ISO 8601, inclusive (UTC if no offset)")
    usage_parser.add_argument("--end", required=True, help="ISO 8601, exclusive")
    usage_parser.add_argument("--window", choices=["hour", "day"], help="one row per hour or day")
    usage_parser.add_argument("--group-by", action="append", help="a dimension key (repeatable)")
    for name, help_text in (
        ("grants", "a customer's credit grants"),
        ("balance", "a customer's credit balance summary"),
    ):
        command(name, help_text).add_argument("--customer", required=True, help=CUSTOMER_HELP)
    tx = command("transactions", "a customer's credit balance transactions, newest first")
    tx.add_argument("--customer", required=True, help=CUSTOMER_HELP)
    tx.add_argument("--grant", help="only this grant's transactions")
    inv = command("invoices", "list invoices")
    inv.add_argument("--customer", help="only this customer's invoices (cus_...)")
    inv.add_argument("--subscription", help="only this subscription's invoices (sub_...)")
    command("invoice", "one invoice with its lines and credits").add_argument(
        "invoice_id", help="the invoice's id (in_...)"
    )


def stdout_console() -> Console:
    """A console fitted to the terminal, or, when output is piped, one that never folds a row."""
    console = Console()
    return console if console.is_terminal else Console(width=PIPED_WIDTH)


def run_read_command(args: argparse.Namespace, settings: Settings) -> int:
    console = stdout_console()
    client = Client(settings, args.api_key)
    try:
        COMMANDS[args.read_command](args, client, console)
    except grpc.RpcError as error:
        Console(stderr=True).print(f"[red]{error.code().name}[/red]: {error.details()}")
        return 1
    finally:
        client.close()
    return 0
