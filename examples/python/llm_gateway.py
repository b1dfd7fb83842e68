"""Enforce prepaid credits per LLM request: authorize the worst case, serve, capture.

    python examples/python/llm_gateway.py <invoicing address> <api key> <customer id> <price id>

The price is the customer's subscribed price per input token. The "model" here is a stand-in
that uses 60 % of max_tokens; a real gateway captures the usage its model reports.
"""

from __future__ import annotations

import sys
import uuid

import grpc
from google.rpc import error_details_pb2
from google.type import decimal_pb2
from grpc_status import rpc_status

from drawdown.invoicing.v1 import usage_authorization_service_pb2 as pb
from drawdown.invoicing.v1 import usage_authorization_service_pb2_grpc as authorization_grpc


def reason_of(error: grpc.RpcError) -> error_details_pb2.ErrorInfo:
    info = error_details_pb2.ErrorInfo()
    for detail in rpc_status.from_call(error).details:
        if detail.Unpack(info):
            break
    return info


def serve_request(stub, metadata, customer_id: str, price_id: str, max_tokens: int) -> str:
    request_id = str(uuid.uuid4())  # one per request: a retry of AuthorizeUsage holds once
    try:
        authorized = stub.AuthorizeUsage(
            pb.AuthorizeUsageRequest(
                customer_id=customer_id,
                price_id=price_id,
                quantity=decimal_pb2.Decimal(value=str(max_tokens)),
                request_id=request_id,
            ),
            metadata=metadata,
        ).usage_authorization
    except grpc.RpcError as error:
        info = reason_of(error)
        if info.reason == "INSUFFICIENT_CREDITS":
            return f"refused: the customer can spend {info.metadata['spendable_balance']} cents"
        raise
    used = max_tokens * 6 // 10  # the model's actual usage
    captured = stub.CaptureUsageAuthorization(
        pb.CaptureUsageAuthorizationRequest(
            usage_authorization_id=authorized.id, quantity=decimal_pb2.Decimal(value=str(used))
        ),
        metadata=metadata,
    ).usage_authorization
    return f"served {used} tokens, billed {captured.captured_amount.units}.{captured.captured_amount.nanos // 10**7:02d}"


def main() -> None:
    address, key, customer_id, price_id = sys.argv[1:5]
    with grpc.insecure_channel(address) as channel:
        stub = authorization_grpc.UsageAuthorizationServiceStub(channel)
        metadata = (("authorization", f"Bearer {key}"),)
        for max_tokens in (50, 100, 1000):
            print(serve_request(stub, metadata, customer_id, price_id, max_tokens))


if __name__ == "__main__":
    main()
