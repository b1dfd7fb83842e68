// A webhook receiver in Node.js that checks Drawdown's signature (E-4), with only the
// standard library:
//
//   DRAWDOWN_WEBHOOK_SECRET=whsec_... node webhook-receiver.mjs --port 8080
//
// It answers 200 to a delivery whose `Drawdown-Signature` matches its body and 400 to
// any other, and prints one JSON line per request: {"verified": true, "id": "evt_…",
// "type": "invoice.finalized"} or {"verified": false, "error": "…"}. On start it prints
// {"listening": <port>}.
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";
import { parseArgs } from "node:util";

const TOLERANCE_SECONDS = 300;

// The event in `body` (a Buffer of the exact bytes received) when `header` signs it with
// `secret`; throws otherwise.
export function verify(body, header, secret, nowSeconds = Date.now() / 1000) {
  if (!header) throw new Error("no Drawdown-Signature header");
  let timestamp = null;
  const signatures = [];
  for (const part of header.split(",")) {
    const [key, value] = part.trim().split("=", 2);
    if (key === "t" && /^\d+$/.test(value)) timestamp = Number(value);
    else if (key === "v1") signatures.push(value);
  }
  if (timestamp === null || signatures.length === 0) throw new Error("malformed Drawdown-Signature");
  const expected = createHmac("sha256", secret)
    .update(Buffer.concat([Buffer.from(`${timestamp}.`), body]))
    .digest("hex");
  const matches = signatures.some(
    (signature) =>
      signature.length === expected.length && timingSafeEqual(Buffer.from(signature), Buffer.from(expected)),
  );
  if (!matches) throw new Error("no signature matches the body");
  if (Math.abs(nowSeconds - timestamp) > TOLERANCE_SECONDS) throw new Error("signature too old");
  return JSON.parse(body.toString("utf8"));
}

const { values: args } = parseArgs({ options: { port: { type: "string", default: "0" } } });
const secret = process.env.DRAWDOWN_WEBHOOK_SECRET;
if (!secret) {
  console.error("set DRAWDOWN_WEBHOOK_SECRET to the endpoint's secret");
  process.exit(2);
}

const server = createServer((request, response) => {
  const chunks = [];
  request.on("data", (chunk) => chunks.push(chunk));
  request.on("end", () => {
    try {
      const event = verify(Buffer.concat(chunks), request.headers["drawdown-signature"], secret);
      console.log(JSON.stringify({ verified: true, id: event.id, type: event.type }));
      response.writeHead(200).end();
    } catch (error) {
      console.log(JSON.stringify({ verified: false, error: error.message }));
      response.writeHead(400).end();
    }
  });
});
server.listen(Number(args.port), "127.0.0.1", () => {
  console.log(JSON.stringify({ listening: server.address().port }));
});
