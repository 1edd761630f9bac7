// The `server` section of the configuration: listeners, drain, message size and TLS. Part of
// ConfigSchema (schema.ts); defaults live here and only here.
import { Type } from '@sinclair/typebox';
import { ADDRESS_PATTERN } from './schema-parts.js';

/** "host:port", ":port" or "[v6]:port". */
const Address = (def: string, description = 'host:port') => Type.String({ pattern: ADDRESS_PATTERN, default: def, description });

/**
 * TLS for the two authorization listeners (gRPC and HTTP); the admin listener stays plain HTTP
 * for probes and scrapes. Files are re-read when they change (Secret volume symlink swaps
 * included) and every reloadSeconds; an invalid replacement keeps the last good certificate.
 */
const TlsSchema = Type.Object(
  {
    certFile: Type.String({ minLength: 1, description: 'PEM server certificate (chain), e.g. a cert-manager tls.crt' }),
    keyFile: Type.String({ minLength: 1, description: 'PEM private key of certFile' }),
    clientCaFile: Type.Optional(
      Type.String({ minLength: 1, description: 'PEM CA bundle: when set, every client must present a certificate it signed (mTLS)' }),
    ),
    reloadSeconds: Type.Optional(
      Type.Number({ minimum: 0, maximum: 86400, default: 60, description: 'also re-check the files this often (0: only file events)' }),
    ),
  },
  {
    additionalProperties: false,
    description:
      'TLS, or mTLS with clientCaFile, on the gRPC and HTTP authorization listeners (the admin listener stays plain HTTP); an invalid replacement keeps the last good certificate',
  },
);

export const ServerSchema = Type.Object(
  {
    grpc: Type.Optional(Address('0.0.0.0:9191', 'gRPC ext_authz listen address (host:port, [v6]:port)')),
    http: Type.Optional(Address('0.0.0.0:9192', 'HTTP authorization listen address (options under the top-level http key)')),
    admin: Type.Optional(Address('0.0.0.0:9090', 'admin listen address: /metrics, /healthz, /readyz (plain HTTP)')),
    drainSeconds: Type.Optional(
      Type.Number({ minimum: 0, maximum: 300, default: 10, description: 'SIGTERM: time in-flight Checks get to finish' }),
    ),
    readyTimeoutSeconds: Type.Optional(
      Type.Number({ minimum: 0, default: 30, description: 'startup wait for issuer keys before serving NOT_SERVING' }),
    ),
    grpcMaxReceiveBytes: Type.Optional(
      Type.Integer({
        minimum: 4096,
        maximum: 64 * 1024 * 1024,
        default: 4 * 1024 * 1024,
        description: 'largest gRPC CheckRequest accepted (grpc max_receive_message_length); larger: RESOURCE_EXHAUSTED',
      }),
    ),
    grpcImplementation: Type.Optional(
      Type.Union([Type.Literal('node-http2'), Type.Literal('grpc-js')], {
        default: 'node-http2',
        description:
          'gRPC server for ext_authz and health: node-http2 (gRPC framed straight on node:http2, about half the CPU per Check) or grpc-js (the previous server)',
      }),
    ),
    tls: Type.Optional(TlsSchema),
  },
  {
    additionalProperties: false,
    default: {},
    description: 'listeners and process settings; read at start only (a reload that changes them logs a warning and keeps them)',
  },
);
