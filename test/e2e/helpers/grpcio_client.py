#!/usr/bin/env python3
"""An independent gRPC client for the interop suite (test/e2e/grpc-interop.test.ts).

Python grpcio runs on gRPC's C core, the client Envoy's google_grpc ext_authz client uses, and
shares no code with grpc-js or node:http2. The messages come from the repository's proto/
files, compiled at run time with grpc_tools.protoc (Debian python3-grpc-tools) into a temporary
directory, so nothing generated is checked in.

Reads a JSON plan on stdin:
  {"protoDir": "...", "target": "127.0.0.1:9191",
   "tls": null | {"ca": file, "cert": file?, "key": file?, "serverName": "localhost"},
   "calls": [{"kind": "check", "version": "v3"|"v2", "method", "path", "host", "headers": {...},
              "sourcePrincipal"?},
             {"kind": "burst", "count": N, ...check fields},
             {"kind": "health", "service": ""}, {"kind": "watch", "service": ""},
             {"kind": "unknown-method"}]}
and prints one JSON object: {"grpcio": version, "protobuf": version, "results": [...]}, one
result per call. It prints statuses, reasons and header names/values the server set, never the
request's credentials. Exit 2 when grpcio or grpc_tools cannot be imported.
"""
import importlib.util
import json
import os
import sys
import tempfile

try:
    import grpc
    import google.protobuf
    from grpc_tools import protoc
except ImportError as err:  # the test turns this into a skip (outside CI) or a failure (CI)
    print(f"grpcio_client: {err}", file=sys.stderr)
    sys.exit(2)

TIMEOUT_S = 10.0


def compile_protos(proto_dir, out_dir):
    wkt = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    files = []
    for root, _dirs, names in os.walk(proto_dir):
        files += [os.path.relpath(os.path.join(root, n), proto_dir) for n in names if n.endswith(".proto")]
    args = ["protoc", "-I", proto_dir, "-I", wkt, f"--python_out={out_dir}", *sorted(files)]
    if protoc.main(args) != 0:
        raise RuntimeError("grpc_tools.protoc failed on proto/")
    sys.path.insert(0, out_dir)


def channel_for(plan):
    target = plan["target"]
    tls = plan.get("tls")
    if not tls:
        return grpc.insecure_channel(target)
    read = lambda key: open(tls[key], "rb").read() if tls.get(key) else None  # noqa: E731
    creds = grpc.ssl_channel_credentials(read("ca"), read("key"), read("cert"))
    options = [("grpc.ssl_target_name_override", tls.get("serverName", "localhost"))]
    return grpc.secure_channel(target, creds, options)


def build_check(pb, call):
    req = pb.CheckRequest()
    http = req.attributes.request.http
    http.method = call.get("method", "GET")
    http.path = call.get("path", "/")
    http.host = call.get("host", "orders.shop.svc.cluster.local")
    http.scheme = "http"
    http.protocol = "HTTP/1.1"
    http.id = "1"
    headers = {":method": http.method, ":path": http.path, ":authority": http.host, ":scheme": "http"}
    headers.update(call.get("headers", {}))
    for k, v in headers.items():
        http.headers[k] = v
    req.attributes.source.address.socket_address.address = "10.1.2.3"
    req.attributes.source.address.socket_address.port_value = 45678
    if call.get("sourcePrincipal"):
        req.attributes.source.principal = call["sourcePrincipal"]
    req.attributes.destination.address.socket_address.address = "10.4.5.6"
    req.attributes.destination.address.socket_address.port_value = 8080
    return req


def rpc_error(err):
    return {"rpc": err.code().name, "details": err.details()}


def check_result(res):
    out = {"rpc": "OK", "code": res.status.code, "message": res.status.message, "response": res.WhichOneof("http_response")}
    if out["response"] == "ok_response":
        out["headers"] = {h.header.key: h.header.value for h in res.ok_response.headers}
        if "headers_to_remove" in res.ok_response.DESCRIPTOR.fields_by_name:  # v3 only
            out["headersToRemove"] = list(res.ok_response.headers_to_remove)
    elif out["response"] == "denied_response":
        out["httpStatus"] = res.denied_response.status.code
        out["reason"] = json.loads(res.denied_response.body or "{}").get("error")
    return out


def main():
    plan = json.load(sys.stdin)
    out_dir = tempfile.mkdtemp(prefix="zt-grpcio-")
    compile_protos(plan["protoDir"], out_dir)
    from envoy.service.auth.v2 import external_auth_pb2 as v2
    from envoy.service.auth.v3 import external_auth_pb2 as v3
    # The generated grpc/health/v1/health_pb2.py cannot be imported by package name: grpcio owns
    # the `grpc` package. It imports no other generated file, so load it from its path.
    spec = importlib.util.spec_from_file_location("zt_health_pb2", os.path.join(out_dir, "grpc", "health", "v1", "health_pb2.py"))
    health_pb2 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(health_pb2)

    channel = channel_for(plan)
    stubs = {}
    for version, pb in (("v3", v3), ("v2", v2)):
        stubs[version] = (
            pb,
            channel.unary_unary(
                f"/envoy.service.auth.{version}.Authorization/Check",
                request_serializer=pb.CheckRequest.SerializeToString,
                response_deserializer=pb.CheckResponse.FromString,
            ),
        )
    health = channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString,
    )
    watch = channel.unary_stream(
        "/grpc.health.v1.Health/Watch",
        request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString,
    )
    unknown = channel.unary_unary("/envoy.service.auth.v3.Authorization/NoSuchMethod")
    status_name = health_pb2.HealthCheckResponse.ServingStatus.Name

    results = []
    for call in plan["calls"]:
        kind = call["kind"]
        try:
            if kind == "check":
                pb, stub = stubs[call.get("version", "v3")]
                results.append(check_result(stub(build_check(pb, call), timeout=TIMEOUT_S)))
            elif kind == "burst":
                # Concurrent calls multiplexed on the one HTTP/2 connection.
                pb, stub = stubs[call.get("version", "v3")]
                futures = [stub.future(build_check(pb, call), timeout=TIMEOUT_S) for _ in range(call["count"])]
                tally = {}
                for f in futures:
                    try:
                        r = f.result()
                        key = f"OK/{r.status.code}"
                    except grpc.RpcError as err:
                        key = err.code().name
                    tally[key] = tally.get(key, 0) + 1
                results.append({"rpc": "OK", "tally": tally})
            elif kind == "health":
                res = health(health_pb2.HealthCheckRequest(service=call.get("service", "")), timeout=TIMEOUT_S)
                results.append({"rpc": "OK", "status": status_name(res.status)})
            elif kind == "watch":
                stream = watch(health_pb2.HealthCheckRequest(service=call.get("service", "")), timeout=TIMEOUT_S)
                first = next(stream)
                stream.cancel()
                results.append({"rpc": "OK", "status": status_name(first.status)})
            elif kind == "unknown-method":
                unknown(b"", timeout=TIMEOUT_S)
                results.append({"rpc": "OK"})
            else:
                results.append({"rpc": "BAD_PLAN", "details": kind})
        except grpc.RpcError as err:
            results.append(rpc_error(err))
    channel.close()
    print(json.dumps({"grpcio": grpc.__version__, "protobuf": google.protobuf.__version__, "results": results}))


if __name__ == "__main__":
    main()
