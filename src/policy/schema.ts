// Policy model (contract: Istio AuthorizationPolicy vocabulary, see DESIGN.md "Policy model").
// This is the single schema source: the config validator uses it now, and the CRD /
// values.schema.json generators will derive from it later, so there is no hand-kept copy.
import { Type, type Static } from '@sinclair/typebox';
import { StringEnum } from '../config/string-enum.js';

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
  { additionalProperties: false },
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
  { additionalProperties: false },
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
    from: Type.Optional(Type.Array(Type.Object({ source: SourceSchema }, { additionalProperties: false }))),
    to: Type.Optional(Type.Array(Type.Object({ operation: OperationSchema }, { additionalProperties: false }))),
    when: Type.Optional(Type.Array(ConditionSchema)),
  },
  { additionalProperties: false },
);

export const PolicySchema = Type.Object(
  {
    name: Type.String({ minLength: 1, pattern: '^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$' }),
    namespace: Type.Optional(Type.String({ minLength: 1 })),
    selector: Type.Optional(
      Type.Object(
        { matchLabels: Type.Record(Type.String(), Type.String()) },
        { additionalProperties: false },
      ),
    ),
    action: Type.Optional(StringEnum(['ALLOW', 'DENY', 'AUDIT'] as const, { default: 'ALLOW' })),
    dryRun: Type.Optional(Type.Boolean()),
    rules: Type.Optional(Type.Array(RuleSchema)),
  },
  { additionalProperties: false },
);

export type PolicySpec = Static<typeof PolicySchema>;
export type RuleSpec = Static<typeof RuleSchema>;
export type SourceSpec = Static<typeof SourceSchema>;
export type OperationSpec = Static<typeof OperationSchema>;
export type ConditionSpec = Static<typeof ConditionSchema>;
