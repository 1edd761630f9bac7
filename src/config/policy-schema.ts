// Policy model, in Istio AuthorizationPolicy's vocabulary so Istio users read it without a
// translation table. The single schema source: the config validator, the ZeroTrustPolicy CRD and
// the chart's values.schema.json all derive from it, so there is no hand-kept copy.
import { Type, type Static } from '@sinclair/typebox';
import { StringEnum } from './schema-parts.js';

const StringList = (description: string) => Type.Array(Type.String({ minLength: 1 }), { description });

export const SourceSchema = Type.Object(
  {
    principals: Type.Optional(StringList('mTLS peer identities, e.g. cluster.local/ns/shop/sa/frontend (spiffe:// implied)')),
    notPrincipals: Type.Optional(StringList('negation of principals')),
    requestPrincipals: Type.Optional(StringList('verified JWT "<iss>/<sub>"; "*" = any authenticated request')),
    notRequestPrincipals: Type.Optional(StringList('negation of requestPrincipals')),
    namespaces: Type.Optional(StringList('source namespaces')),
    notNamespaces: Type.Optional(StringList('negation of namespaces')),
    serviceAccounts: Type.Optional(StringList('source service accounts, "ns/sa"')),
    notServiceAccounts: Type.Optional(StringList('negation of serviceAccounts')),
    ipBlocks: Type.Optional(StringList('source IPs or CIDRs')),
    notIpBlocks: Type.Optional(StringList('negation of ipBlocks')),
    remoteIpBlocks: Type.Optional(StringList('original client IPs or CIDRs (X-Forwarded-For with identity.numTrustedProxies)')),
    notRemoteIpBlocks: Type.Optional(StringList('negation of remoteIpBlocks')),
    trustDomains: Type.Optional(StringList('trust domains of the peer SPIFFE ID: exact, prefix*, *suffix or *')),
    notTrustDomains: Type.Optional(StringList('negation of trustDomains')),
  },
  {
    additionalProperties: false,
    description: 'who sends the request: mTLS identity, JWT principal, namespace, service account, addresses, trust domain',
  },
);

export const OperationSchema = Type.Object(
  {
    hosts: Type.Optional(StringList('request hosts (case-insensitive)')),
    notHosts: Type.Optional(StringList('negation of hosts')),
    ports: Type.Optional(StringList('destination ports')),
    notPorts: Type.Optional(StringList('negation of ports')),
    methods: Type.Optional(StringList('HTTP methods')),
    notMethods: Type.Optional(StringList('negation of methods')),
    paths: Type.Optional(StringList('paths without query; exact, prefix*, *suffix, *, {*} and {**} templates')),
    notPaths: Type.Optional(StringList('negation of paths')),
  },
  { additionalProperties: false, description: 'what is requested: host, port, method, path' },
);

export const ConditionSchema = Type.Object(
  {
    key: Type.String({ minLength: 1, description: 'e.g. request.auth.claims[scope], source.namespace' }),
    values: Type.Optional(StringList('any of these values matches')),
    notValues: Type.Optional(StringList('none of these values may match')),
  },
  { additionalProperties: false },
);

export const RuleSchema = Type.Object(
  {
    from: Type.Optional(
      Type.Array(
        Type.Object(
          { source: SourceSchema },
          { additionalProperties: false, description: 'one source: its fields are ANDed, the values of a field ORed' },
        ),
        {
          description: 'sources, at least one of which must match; omit for any source (an empty list is invalid)',
        },
      ),
    ),
    to: Type.Optional(
      Type.Array(
        Type.Object(
          { operation: OperationSchema },
          { additionalProperties: false, description: 'one operation: its fields are ANDed, the values of a field ORed' },
        ),
        {
          description: 'operations, at least one of which must match; omit for any operation (an empty list is invalid)',
        },
      ),
    ),
    when: Type.Optional(Type.Array(ConditionSchema, { description: 'conditions, every one of which must match' })),
  },
  { additionalProperties: false },
);

export const PolicySchema = Type.Object(
  {
    name: Type.String({
      minLength: 1,
      pattern: '^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$',
      description: 'unique per namespace; decisions, metrics and audit records name the policy by it',
    }),
    namespace: Type.Optional(
      Type.String({ minLength: 1, description: 'scope: the policy applies only to destinations in this namespace' }),
    ),
    selector: Type.Optional(
      Type.Object(
        { matchLabels: Type.Record(Type.String(), Type.String(), { description: 'labels the destination workload must all carry' }) },
        { additionalProperties: false, description: 'scope: destination workload labels (from Envoy, or the Kubernetes pod map)' },
      ),
    ),
    action: Type.Optional(
      StringEnum(['ALLOW', 'DENY', 'AUDIT'] as const, {
        default: 'ALLOW',
        description: 'ALLOW admits, DENY refuses, AUDIT only records its matches (audit audits field)',
      }),
    ),
    dryRun: Type.Optional(
      Type.Boolean({ description: 'evaluate and record the match (audit dry_run field) without changing the outcome' }),
    ),
    internalToken: Type.Optional(
      Type.Boolean({
        description:
          'ALLOW policies: mint the internal token (response.internalToken) for the requests this policy allows (true) or not (false); absent: response.internalToken.enabled',
      }),
    ),
    rules: Type.Optional(
      Type.Array(RuleSchema, {
        description:
          'a rule matches when a from source, a to operation and every when condition match; without rules an ALLOW or AUDIT policy matches nothing, and a DENY policy is invalid',
      }),
    ),
  },
  { additionalProperties: false },
);

export type PolicySpec = Static<typeof PolicySchema>;
export type RuleSpec = Static<typeof RuleSchema>;
export type SourceSpec = Static<typeof SourceSchema>;
export type OperationSpec = Static<typeof OperationSchema>;
export type ConditionSpec = Static<typeof ConditionSchema>;
