// A TypeScript client generated from the Drawdown contracts, calling metering over HTTP/1.1
// and JSON (the Connect protocol, O-5): it creates a meter, then sends a meter without an
// event name and decodes the refusal's google.rpc.ErrorInfo and BadRequest.
//
//   npm ci
//   (cd ../.. && PATH="$PWD/examples/typescript/node_modules/.bin:$PATH" buf generate -o examples/typescript)
//     (buf.gen.yaml's Go plugins run on buf.build; for TypeScript alone, give --template a
//     copy that keeps only its protoc-gen-es entry, as tests/e2e/test_typescript_client.py does)
//   npx tsc -p . && DRAWDOWN_METERING_HTTP=http://127.0.0.1:50061 \
//     DRAWDOWN_API_KEY="$(cat ../../.drawdown/dev-api-key)" node dist/client.js
//
// It prints one JSON object: the meter created, and the error's code, reason and field.
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";

import { AggregationFormula } from "./gen/ts/drawdown/metering/v1/meter_pb.js";
import { MeterService } from "./gen/ts/drawdown/metering/v1/meter_service_pb.js";
import { BadRequestSchema, ErrorInfoSchema } from "./gen/ts/google/rpc/error_details_pb.js";

const baseUrl = process.env.DRAWDOWN_METERING_HTTP ?? "http://127.0.0.1:50061";
const apiKey = process.env.DRAWDOWN_API_KEY ?? "";
const eventName = process.env.EVENT_NAME ?? "typescript_tokens";

const withKey: Interceptor = (next) => async (request) => {
  request.header.set("Authorization", `Bearer ${apiKey}`);
  return next(request);
};

const transport = createConnectTransport({ baseUrl, httpVersion: "1.1", interceptors: [withKey] });
const meters = createClient(MeterService, transport);

const created = await meters.createMeter({
  meter: { displayName: "TypeScript tokens", eventName, aggregationFormula: AggregationFormula.SUM },
});

let refusal: Record<string, unknown> = {};
try {
  await meters.createMeter({ meter: { displayName: "No event name", aggregationFormula: AggregationFormula.SUM } });
} catch (caught) {
  const error = ConnectError.from(caught);
  const [info] = error.findDetails(ErrorInfoSchema);
  const [badRequest] = error.findDetails(BadRequestSchema);
  refusal = {
    code: Code[error.code],
    reason: info?.reason,
    domain: info?.domain,
    metadata: info?.metadata,
    fields: badRequest?.fieldViolations.map((violation) => violation.field) ?? [],
  };
}

console.log(JSON.stringify({ meter: { id: created.meter?.id, eventName: created.meter?.eventName }, refusal }));
