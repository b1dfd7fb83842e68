// Drawdown from Node.js: the core of the Hypernian scenario with @grpc/grpc-js and
// @grpc/proto-loader, loading the .proto files at run time (no code generation).
//
//   npm install
//   DRAWDOWN_API_KEY=... node client.mjs --customer cus_... --subscription sub_... \
//     --event-name hypernian_input_tokens --value 1200 [--timestamp 2026-11-24T09:00:00Z]
//
// Prints one JSON document: the recorded event, the credit balance and the preview.
import { randomUUID } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

const PROTOS = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "protos");

const { values: args } = parseArgs({
  options: {
    customer: { type: "string" },
    subscription: { type: "string" },
    "event-name": { type: "string" },
    value: { type: "string" },
    // When the usage happened (ISO 8601); default now. Customers on a test clock send the
    // clock's time, since their billing periods run on it.
    timestamp: { type: "string" },
  },
});
for (const required of ["customer", "subscription", "event-name", "value"]) {
  if (!args[required]) throw new Error(`--${required} is required`);
}

const definition = protoLoader.loadSync(
  [
    "drawdown/metering/v1/meter_event_service.proto",
    "drawdown/credits/v1/credit_balance_service.proto",
    "drawdown/invoicing/v1/invoice_service.proto",
  ],
  { includeDirs: [PROTOS], keepCase: true, longs: String, enums: String, defaults: true, oneofs: true },
);
const drawdown = grpc.loadPackageDefinition(definition).drawdown;

const env = (name, fallback) => process.env[name] ?? fallback;
const credentials = grpc.credentials.createInsecure();
const metering = new drawdown.metering.v1.MeterEventService(env("DRAWDOWN_METERING_ADDRESS", "127.0.0.1:50051"), credentials);
const credits = new drawdown.credits.v1.CreditBalanceService(env("DRAWDOWN_CREDITS_ADDRESS", "127.0.0.1:50052"), credentials);
const invoicing = new drawdown.invoicing.v1.InvoiceService(env("DRAWDOWN_INVOICING_ADDRESS", "127.0.0.1:50053"), credentials);

const metadata = new grpc.Metadata();
metadata.set("authorization", `Bearer ${env("DRAWDOWN_API_KEY", "")}`);

// Promisify one unary call with a deadline.
function call(client, method, request) {
  return new Promise((resolve, reject) => {
    const deadline = new Date(Date.now() + 10_000);
    client[method](request, metadata, { deadline }, (error, response) => (error ? reject(error) : resolve(response)));
  });
}

const toTimestamp = (iso) => {
  const millis = Date.parse(iso);
  if (Number.isNaN(millis)) throw new Error(`--timestamp: not an ISO 8601 time: ${iso}`);
  return { seconds: String(Math.floor(millis / 1000)), nanos: (millis % 1000) * 1_000_000 };
};

const money = (m) => (m && m.currency_code ? { currency: m.currency_code, units: m.units, nanos: m.nanos } : null);

const recorded = await call(metering, "CreateMeterEvent", {
  meter_event: {
    event_name: args["event-name"],
    identifier: randomUUID(),
    payload: { customer_id: args.customer, value: args.value },
    ...(args.timestamp ? { timestamp: toTimestamp(args.timestamp) } : {}),
  },
});
const balance = await call(credits, "GetCreditBalanceSummary", { customer_id: args.customer });
const preview = await call(invoicing, "CreateInvoicePreview", { subscription_id: args.subscription });

console.log(
  JSON.stringify({
    event: { identifier: recorded.meter_event.identifier, duplicate: recorded.duplicate },
    balance: balance.credit_balance_summary.balances.map((b) => ({
      available: money(b.available_balance),
      ledger: money(b.ledger_balance),
    })),
    preview: {
      subtotal: money(preview.invoice.subtotal),
      credits: money(preview.invoice.total_credits_applied),
      amount_due: money(preview.invoice.amount_due),
      lines: preview.invoice.lines.map((l) => ({ description: l.description, quantity: l.quantity.value, amount: money(l.amount) })),
    },
  }),
);
for (const client of [metering, credits, invoicing]) client.close();
