// The YAML form of the broker config as a zod schema that validates and converts in one pass:
// the file's camelCase keys and human units in, BrokerConfig (types.ts) out. Every mapping is
// strict, every message says what to write instead (fields.ts). examples/access.yaml documents
// the form for people.

import { z } from 'zod';
import { formatDuration } from '../../shared/duration.js';
import type { CallerLimits } from '../../shared/limits.js';
import { DEFAULT_SIGN_IN_METHOD, SIGN_IN_METHODS } from '../../shared/wire.js';
import { checkDevDirectory, unknownGroup } from './dev-directory.js';
import { caFile, choice, duration, emailShaped, guid, nameList, regexSource, strictMapping, target, text, wholeNumber } from './fields.js';
import { cloudSchema } from './cloud-schema.js';
import { conditionsSchema, networkList } from './conditions-schema.js';
import { graphSchema } from './graph-credential-schema.js';
import { notificationsSchema } from './notifications-schema.js';
import { storeUrl } from './store-url.js';
import { credentialList } from './database-credentials.js';
import { collectLabels, groupRefList, refsOf, isGroupId, type GroupRefEntry } from './group-refs.js';
import type { ConfigPath, ConfigProblem } from './problems.js';
import type { BrokerConfig, DevDirectory, ExtendPolicy, ResourceKind, ResourcePolicy, TargetTlsMode } from './types.js';

export const RESOURCE_KINDS = ['postgres', 'mysql', 'ssh', 'tcp', 'http', 'grpc'] as const satisfies readonly ResourceKind[];
/** Lower-case DNS-label-like names: safe in URLs, shell arguments and table columns alike. */
export const RESOURCE_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** More distinct approvers than this is a policy nobody can satisfy in time. */
export const MAX_APPROVALS = 10;
/** A grant longer than a week is standing access, which this tool exists to remove. */
export const MAX_GRANT_DURATION_MS = 7 * 86_400_000;
/** A request nobody reviewed within a week is stale: its reason no longer describes a need. */
export const MAX_REQUEST_TTL_MS = 7 * 86_400_000;
export const DEFAULT_REQUEST_TTL_MS = 3_600_000;
/** defaultDuration, when not written, is this or maxDuration, whichever is shorter. */
export const DEFAULT_DURATION_CAP_MS = 3_600_000;
/**
 * Tunnels open at once to one resource when the config names no `maxConnections`: enough for a
 * team's psql sessions and a connection pool or two, few enough that one runaway script cannot
 * exhaust the target's own connection limit (PostgreSQL's default max_connections is 100).
 */
export const DEFAULT_MAX_CONNECTIONS = 20;
/** More concurrent tunnels than this to one resource is a service, not human access. */
export const MAX_CONNECTIONS_LIMIT = 1_000;
/** A tunnel idle this long is closed when the config names no `idleTimeout` (a forgotten psql). */
export const DEFAULT_IDLE_TIMEOUT_MS = 30 * 60_000;
/** Resource kinds whose clients take a default database and user (`database`, `user`). */
export const DATABASE_KINDS: readonly ResourceKind[] = ['postgres', 'mysql'];
/** Resource kinds whose broker → target leg can be TLS (`targetTls`): the broker speaks their TLS negotiation. */
export const TARGET_TLS_KINDS: readonly ResourceKind[] = ['postgres'];
/** Resource kinds whose requests the broker forwards itself (tunnel/http/): they take `hostHeader`. */
export const HTTP_KINDS: readonly ResourceKind[] = ['http', 'grpc'];
export const TARGET_TLS_MODES = ['disable', 'require', 'verify-full'] as const satisfies readonly TargetTlsMode[];
/** How often users with open tunnels have their membership re-read from Graph, by default. */
export const DEFAULT_MEMBERSHIP_RECHECK_SECONDS = 30;
/** A removed member must lose live tunnels within the hour, like MAX_GROUP_CACHE_SECONDS. */
export const MAX_MEMBERSHIP_RECHECK_SECONDS = 3600;
/**
 * How long live tunnels survive a Graph outage, by default: long enough for a blip or a failover of
 * Graph (a few re-checks at the default interval), short enough that a removal made during an
 * outage stops working within minutes.
 */
export const DEFAULT_MEMBERSHIP_GRACE_SECONDS = 120;
/** Like MAX_MEMBERSHIP_RECHECK_SECONDS: an outage must not become an hour of unchecked access. */
export const MAX_MEMBERSHIP_GRACE_SECONDS = 3600;
export const DEFAULT_GROUP_CACHE_SECONDS = 60;
/** A member removed from a group must lose access within the hour even with the longest cache. */
export const MAX_GROUP_CACHE_SECONDS = 3600;

export const DEFAULT_REQUIRED_SCOPE = 'user_impersonation';
export const DEFAULT_REQUIRED_APP_ROLE = 'Access.Automation';

export interface SchemaOptions {
  /** Where the Graph credential's environment variables (`env`, AZURE_FEDERATED_TOKEN_FILE) are looked up. */
  env: NodeJS.ProcessEnv;
  /** Accept a `devTenant` section (only `access-broker dev --config`). */
  allowDevDirectory: boolean;
  /** Refuse a file without a `tenant` block (`access-broker serve`). */
  requireTenant: boolean;
  /** Refuse group display names: only object ids (serve; config/group-refs.ts). */
  groupIdsOnly: boolean;
  /** Where relative file paths in the config (`targetCa`) start: the config file's directory. */
  baseDir: string;
}

const GROUPS_HINT = 'Entra group object ids, each optionally labelled: [{ id: <object id>, name: sg-eng }] (display names only under `access-broker dev`)';
/** Longest total Retry-After wait per Graph call, by default: a membership check waits at most this long for a throttled Graph. */
export const DEFAULT_GRAPH_RETRY_BUDGET_MS = 10_000;
/** A request path that waits longer than a minute for Graph is worse than a clear failure. */
export const MAX_GRAPH_RETRY_BUDGET_MS = 60_000;

/** The group-reference lists of a resource, kept beside its policy until their labels are collected. */
interface ResourceGroupEntries {
  requesters: GroupRefEntry[];
  approvers: GroupRefEntry[];
  autoApprove: GroupRefEntry[];
  breakGlass: GroupRefEntry[];
  /** Per entry of `credentials`, its `groups`. */
  credentials: GroupRefEntry[][];
}

function tenantSchema(options: SchemaOptions) {
  // No default Graph URL here: it follows tenant.cloud (see the transform below).
  const graph = graphSchema({ env: options.env, baseDir: options.baseDir, now: Date.now }, '');
  return strictMapping(
    {
      id: guid('the Directory (tenant) ID from the Entra admin center, not a domain name'),
      cloud: cloudSchema(),
      cliClientId: guid("the application (client) id of the CLI's public client app registration"),
      audiences: nameList("accepted token audiences: the API's App ID URI and/or client id", { nonEmpty: true }),
      cliScope: text('the scope the CLI requests, e.g. api://access-broker/user_impersonation'),
      requiredScope: text('the scp value a user token must carry').default(DEFAULT_REQUIRED_SCOPE),
      requiredAppRole: text('the app role an automation token must carry').default(DEFAULT_REQUIRED_APP_ROLE),
      automationApps: z
        .array(guid('the application (client) id of an app whose app-only tokens the broker accepts'), { error: 'must be a list of application (client) ids' })
        .default([]),
      graph,
      signIn: choice(
        SIGN_IN_METHODS,
        "the sign-in `access login` uses without a flag: browser where Conditional Access blocks device code (Microsoft's managed policy does)",
      ).default(DEFAULT_SIGN_IN_METHOD),
    },
    '`access-broker serve` needs the Entra tenant: id, cliClientId, audiences, cliScope, graph (see examples/access.yaml)',
  ).transform((raw, ctx) => {
    // A CLI scope that does not end in the required scope yields tokens every request is refused with.
    if (!raw.cliScope.endsWith(`/${raw.requiredScope}`)) {
      ctx.addIssue({
        code: 'custom',
        path: ['cliScope'],
        message: `must end with "/${raw.requiredScope}" (requiredScope), or users' tokens will never carry that scope`,
        input: raw.cliScope,
      });
    }
    const { id, automationApps, ...rest } = raw;
    // graph.baseUrl, when not written, is the chosen cloud's Graph.
    return { tenantId: id, ...rest, automationClientIds: automationApps, graph: { ...raw.graph, baseUrl: raw.graph.baseUrl || raw.cloud.graphHost } };
  });
}

function resourceSchema(env: NodeJS.ProcessEnv, baseDir: string, idsOnly: boolean) {
  return strictMapping(
    {
      kind: choice(RESOURCE_KINDS, 'the protocol of the target'),
      description: text('one line people see in `access resources`').optional(),
      target: target('the host:port the broker dials, e.g. db.internal:5432'),
      requesters: groupRefList(`groups whose members may request access — ${GROUPS_HINT}`, { nonEmpty: true, idsOnly }),
      approvers: groupRefList(`groups whose members may approve — ${GROUPS_HINT}`, { nonEmpty: true, idsOnly }),
      approvals: wholeNumber(1, MAX_APPROVALS, 'distinct approvers needed').default(1),
      maxDuration: duration('the longest grant, e.g. 4h', MAX_GRANT_DURATION_MS, 'longer grants are standing access'),
      defaultDuration: duration('the grant length when a request names none, e.g. 1h', MAX_GRANT_DURATION_MS, 'longer grants are standing access').optional(),
      requestTtl: duration('how long a request may wait for review, e.g. 1h', MAX_REQUEST_TTL_MS, 'an older request is stale').default(DEFAULT_REQUEST_TTL_MS),
      reason: choice(['optional', 'required'], 'whether a request must say why').default('optional'),
      ticketPattern: regexSource("a ticket id must match it, e.g. '^(INC|CHG)-\\d+$'").optional(),
      autoApprove: groupRefList(`groups whose requests are approved by policy — ${GROUPS_HINT}`, { nonEmpty: false, idsOnly }).default([]),
      maxConnections: wholeNumber(1, MAX_CONNECTIONS_LIMIT, 'tunnels open at once to this resource, all users together').default(DEFAULT_MAX_CONNECTIONS),
      idleTimeout: duration(
        'close a tunnel after this long with no bytes either way, e.g. 30m',
        MAX_GRANT_DURATION_MS,
        'a tunnel never outlives its grant',
      ).default(DEFAULT_IDLE_TIMEOUT_MS),
      database: text('the database clients connect to by default, e.g. orders').optional(),
      user: text('the database user clients connect as by default, e.g. readonly').optional(),
      targetTls: choice(TARGET_TLS_MODES, 'TLS from the broker to the database').default('disable'),
      targetCa: caFile("the CA that signs the database's certificate, for targetTls: verify-full", baseDir).optional(),
      workloads: z
        .array(guid('the application (client) id of a workload (service principal) that may use this resource'), {
          error: 'must be a list of application (client) ids of workloads, e.g. [2f6a1c4e-0b8d-4d6e-9c1a-5e7f3b2a9d10]',
        })
        .default([]),
      autoApproveWorkloads: z
        .array(guid('the application (client) id of a workload whose requests are approved by policy (it must be in workloads too)'), {
          error: 'must be a list of application (client) ids, each also listed in workloads',
        })
        .default([]),
      hostHeader: text("the Host header the target sees: target (default: the target's host:port), client, or a name such as grafana.internal")
        .regex(/^[A-Za-z0-9.:[\]-]+$/, { error: 'must be target, client, or a host name with an optional :port, e.g. grafana.internal' })
        .optional(),
      extend: extendSchema().optional(),
      breakGlass: strictMapping(
        {
          groups: groupRefList(`groups whose members may take access at once in an emergency — ${GROUPS_HINT}`, { nonEmpty: true, idsOnly }),
          maxDuration: duration('the longest break-glass grant, e.g. 1h', MAX_GRANT_DURATION_MS, 'longer grants are standing access'),
        },
        'break-glass: { groups: [sg-oncall], maxDuration: 1h }',
      ).optional(),
      conditions: conditionsSchema().optional(),
      credentials: credentialList(env, baseDir, idsOnly).optional(),
    },
    'a resource needs kind, target, requesters, approvers and maxDuration (see examples/access.yaml)',
  ).transform((raw, ctx): Omit<ResourcePolicy, 'name'> & { groupEntries: ResourceGroupEntries } => {
    const defaultDurationMs = raw.defaultDuration ?? Math.min(DEFAULT_DURATION_CAP_MS, raw.maxDuration);
    if (defaultDurationMs > raw.maxDuration) {
      ctx.addIssue({
        code: 'custom',
        path: ['defaultDuration'],
        message: 'must not be longer than maxDuration — a default above the maximum could never be granted',
        input: formatDuration(defaultDurationMs),
      });
    }
    if (!DATABASE_KINDS.includes(raw.kind)) {
      for (const key of ['database', 'user', 'credentials'] as const) {
        if (raw[key] === undefined) continue;
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: `applies to ${DATABASE_KINDS.join(' and ')} resources only, not kind ${raw.kind} — remove it`,
          ...(key === 'credentials' ? {} : { input: raw[key] }),
        });
      }
    }
    if (raw.targetTls !== 'disable' && !TARGET_TLS_KINDS.includes(raw.kind)) {
      ctx.addIssue({
        code: 'custom',
        path: ['targetTls'],
        message: `applies to ${TARGET_TLS_KINDS.join(' and ')} resources only, not kind ${raw.kind} — remove it`,
        input: raw.targetTls,
      });
    }
    if (raw.hostHeader !== undefined && !HTTP_KINDS.includes(raw.kind)) {
      ctx.addIssue({
        code: 'custom',
        path: ['hostHeader'],
        message: `applies to ${HTTP_KINDS.join(' and ')} resources only, not kind ${raw.kind} — remove it`,
        input: raw.hostHeader,
      });
    }
    if (raw.targetCa !== undefined && raw.targetTls !== 'verify-full') {
      ctx.addIssue({
        code: 'custom',
        path: ['targetCa'],
        message: `is only read with targetTls: verify-full (this resource has ${raw.targetTls}) — set targetTls: verify-full or remove targetCa`,
      });
    }
    raw.autoApproveWorkloads.forEach((appId, index) => {
      if (raw.workloads.includes(appId)) return;
      ctx.addIssue({
        code: 'custom',
        path: ['autoApproveWorkloads', index],
        message: "is not in this resource's workloads — a workload approved by policy must be allowed to request first: add it to workloads",
        input: appId,
      });
    });
    if (raw.breakGlass !== undefined && raw.breakGlass.maxDuration > raw.maxDuration) {
      ctx.addIssue({
        code: 'custom',
        path: ['breakGlass', 'maxDuration'],
        message: `must not be longer than maxDuration (${formatDuration(raw.maxDuration)}) — an emergency grant without approval must not outlast an approved one`,
        input: formatDuration(raw.breakGlass.maxDuration),
      });
    }
    if (raw.extend !== undefined) {
      for (const problem of extendProblems(raw.extend, raw.maxDuration)) ctx.addIssue({ code: 'custom', ...problem });
    }
    return {
      kind: raw.kind,
      description: raw.description ?? null,
      target: raw.target,
      requesters: refsOf(raw.requesters),
      approvers: refsOf(raw.approvers),
      approvals: raw.approvals,
      maxDurationMs: raw.maxDuration,
      defaultDurationMs,
      requestTtlMs: raw.requestTtl,
      reason: raw.reason,
      ticketPattern: raw.ticketPattern ?? null,
      autoApprove: refsOf(raw.autoApprove),
      maxConnections: raw.maxConnections,
      idleTimeoutMs: raw.idleTimeout,
      database: raw.database ?? null,
      user: raw.user ?? null,
      targetTls: raw.targetTls,
      targetCa: raw.targetCa ?? null,
      workloads: raw.workloads,
      autoApproveWorkloads: raw.autoApproveWorkloads,
      ...(raw.hostHeader === undefined ? {} : { hostHeader: raw.hostHeader }),
      ...(raw.extend ? { extend: raw.extend } : {}),
      ...(raw.breakGlass ? { breakGlass: { groups: refsOf(raw.breakGlass.groups), maxDurationMs: raw.breakGlass.maxDuration } } : {}),
      ...(raw.conditions ? { conditions: raw.conditions } : {}),
      credentials: (raw.credentials ?? []).map((parsed) => parsed.credential),
      groupEntries: {
        requesters: raw.requesters,
        approvers: raw.approvers,
        autoApprove: raw.autoApprove,
        breakGlass: raw.breakGlass?.groups ?? [],
        credentials: (raw.credentials ?? []).map((parsed) => parsed.groupEntries),
      },
    };
  });
}

const EXTEND_HINT = 'e.g. extend: { maxTotal: 8h, approval: required } or approval: { none-within: 1h }';

/** `extend:` of a resource (ExtendPolicy): maxTotal, and approval `required` or `{ none-within: D }`. */
function extendSchema() {
  const approval = z.union(
    [
      z.literal('required'),
      strictMapping(
        { 'none-within': duration('extra time approved by policy, e.g. 1h', MAX_GRANT_DURATION_MS, 'longer grants are standing access') },
        `approval is "required" or { none-within: DURATION } — ${EXTEND_HINT}`,
      ),
    ],
    { error: `must be "required" or { none-within: DURATION } — ${EXTEND_HINT}` },
  );
  return strictMapping(
    {
      maxTotal: duration(
        'the longest a grant may last with its extensions, from approval, e.g. 8h',
        MAX_GRANT_DURATION_MS,
        'longer grants are standing access',
      ),
      approval: approval.default('required'),
    },
    `how a live grant may be extended — ${EXTEND_HINT}`,
  ).transform((raw): ExtendPolicy => ({ maxTotalMs: raw.maxTotal, autoApproveWithinMs: raw.approval === 'required' ? null : raw.approval['none-within'] }));
}

/** An extend policy that contradicts the resource's: problems at `extend.KEY`. */
function extendProblems(extend: ExtendPolicy, maxDurationMs: number): { path: string[]; message: string; input: string }[] {
  const problems: { path: string[]; message: string; input: string }[] = [];
  if (extend.maxTotalMs < maxDurationMs) {
    problems.push({
      path: ['extend', 'maxTotal'],
      message: `must be at least maxDuration (${formatDuration(maxDurationMs)}) — it caps a grant with its extensions, so below maxDuration it would cut grants short`,
      input: formatDuration(extend.maxTotalMs),
    });
  }
  if (extend.autoApproveWithinMs !== null && extend.autoApproveWithinMs >= extend.maxTotalMs) {
    problems.push({
      path: ['extend', 'approval', 'none-within'],
      message: `must be shorter than extend.maxTotal (${formatDuration(extend.maxTotalMs)}) — otherwise no extension would ever need approval; to approve every extension by policy, say so with a smaller maxTotal`,
      input: formatDuration(extend.autoApproveWithinMs),
    });
  }
  return problems;
}

function resourcesSchema(env: NodeJS.ProcessEnv, baseDir: string, idsOnly: boolean) {
  return z
    .record(z.string(), resourceSchema(env, baseDir, idsOnly), {
      error: (issue) =>
        issue.input === undefined
          ? 'is required — the resources people may request, each with its policy (see examples/access.yaml)'
          : 'must be a mapping of resource names to their policies',
    })
    .superRefine(
      (resources, ctx) => {
        const names = Object.keys(resources);
        if (names.length === 0) ctx.addIssue({ code: 'custom', message: 'must declare at least one resource', input: resources });
        for (const name of names) {
          if (RESOURCE_NAME.test(name)) continue;
          ctx.addIssue({
            code: 'custom',
            path: [name],
            message: 'is not a valid resource name — use lower-case letters, digits and hyphens, starting with a letter or digit, at most 63 characters',
            input: name,
          });
        }
      },
      // Name problems are independent of the policies': report both in one go.
      { when: () => true },
    )
    .transform((resources) => Object.entries(resources).map(([name, policy]) => ({ name, ...policy })));
}

function devTenantSchema() {
  const group = strictMapping(
    {
      name: text("the group's name in this config, e.g. sg-eng (unique here)"),
      displayName: text('the display name Graph shows, when not the name (Entra display names may repeat)').optional(),
      memberOf: nameList('groups this group is nested in', { nonEmpty: false }).default([]),
      securityEnabled: z
        .boolean({ error: 'must be true or false — false makes a Microsoft 365 group, which `access-broker doctor` refuses in a policy' })
        .optional(),
    },
    'a dev group: { name, memberOf }',
  );
  const user = strictMapping(
    {
      upn: emailShaped("the user's sign-in name"),
      name: text("the user's display name"),
      groups: nameList('groups the user is a direct member of', { nonEmpty: false }).default([]),
      mfa: z.boolean({ error: 'must be true or false — true: the user can complete multi-factor sign-in' }).optional(),
    },
    'a dev user: { upn, name, groups, mfa }',
  );
  return strictMapping(
    {
      groups: z.array(group, { error: 'must be a list of groups, e.g. [{ name: sg-eng }]' }).default([]),
      users: z
        .array(user, { error: 'must be a list of users, e.g. [{ upn: alice@contoso.dev, name: Alice, groups: [sg-eng] }]' })
        .min(1, { error: 'must list at least one user — someone has to sign in' }),
      signIn: choice(SIGN_IN_METHODS, 'the sign-in `access login` uses without a flag (as tenant.signIn does for a real tenant)').optional(),
      blockDeviceCode: z.boolean({ error: 'must be true or false — true blocks device code sign-in the way a Conditional Access policy does' }).default(false),
    },
    "the dev tenant's users and groups (and, optionally, signIn and blockDeviceCode)",
  ).superRefine((directory, ctx) => {
    for (const problem of checkDevDirectory(directory)) addProblem(ctx, problem);
  });
}

/** Largest value a per-caller limit may be set to: beyond it a limit limits nothing. */
const MAX_CALLER_LIMIT = 10_000;

/** `limits:` — per-caller limits that differ from the defaults (shared/limits.ts; README, "Limits"). */
function limitsSchema() {
  const limit = (what: string) => wholeNumber(1, MAX_CALLER_LIMIT, what).optional();
  return strictMapping(
    {
      requestsPerMinute: limit('new requests one person may make at once, and then per minute'),
      maxPendingPerUser: limit('pending requests one person may hold at once'),
      maxEventStreamsPerUser: limit('event streams one person may hold open at once'),
      maxTunnelsPerUserPerResource: limit("tunnels one person may hold open to one resource at once (besides the resource's maxConnections)"),
    },
    'per-caller limits: requestsPerMinute, maxPendingPerUser, maxEventStreamsPerUser, maxTunnelsPerUserPerResource',
  ).transform(
    (raw): Partial<CallerLimits> => ({
      ...(raw.requestsPerMinute === undefined ? {} : { requestCreation: { burst: raw.requestsPerMinute, perMinute: raw.requestsPerMinute } }),
      ...(raw.maxPendingPerUser === undefined ? {} : { maxPendingPerUser: raw.maxPendingPerUser }),
      ...(raw.maxEventStreamsPerUser === undefined ? {} : { maxEventStreamsPerUser: raw.maxEventStreamsPerUser }),
      ...(raw.maxTunnelsPerUserPerResource === undefined ? {} : { maxTunnelsPerUserPerResource: raw.maxTunnelsPerUserPerResource }),
    }),
  );
}

/** One audit entry per grant (and per refused caller and resource) per this window, by default. */
export const DEFAULT_FORWARD_AUTH_AUDIT_WINDOW_MS = 60_000;
/** Counts held longer than an hour are no longer a timely record of who used what. */
export const MAX_FORWARD_AUTH_AUDIT_WINDOW_MS = 3_600_000;

/** `forwardAuth:` — the endpoint nginx, HAProxy and Traefik ask for each request (README, "Forward-auth"). */
function forwardAuthSchema() {
  return strictMapping(
    {
      auditWindow: duration(
        'how long forward-auth decisions are counted before one audit entry per grant (and per refused caller and resource) is written, e.g. 1m',
        MAX_FORWARD_AUTH_AUDIT_WINDOW_MS,
        'the audit log would learn of use too late',
      ).default(DEFAULT_FORWARD_AUTH_AUDIT_WINDOW_MS),
    },
    'forward-auth settings: auditWindow',
  ).transform((raw) => ({ auditWindowMs: raw.auditWindow }));
}

/** `tls:` — mutual TLS on the broker's port (README, "Mutual TLS"); the certificate itself comes from --tls-cert/--tls-key. */
function tlsSchema(baseDir: string) {
  return strictMapping(
    {
      clientCa: caFile(
        'the PEM CA certificate(s) that issue the client certificates every API call and tunnel must present (mutual TLS, besides the Entra token)',
        baseDir,
      ),
    },
    'TLS settings: clientCa',
  ).transform((raw) => ({ clientCa: raw.clientCa }));
}

/** A section that exists only in another mode, with the reason it is refused here. */
function refusedSection(reason: string) {
  return z.never({ error: reason }).optional();
}

export function configSchema(options: SchemaOptions) {
  const tenant = tenantSchema(options);
  // serve matches groups by object id only (config/group-refs.ts); the dev tenant may use names.
  const idsOnly = options.groupIdsOnly;
  const devTenant = options.allowDevDirectory
    ? devTenantSchema().optional()
    : refusedSection("is only accepted by `access-broker dev --config` — a real tenant's users and groups live in Entra ID; remove this section");
  return strictMapping(
    {
      tenant: options.requireTenant ? tenant : tenant.optional(),
      groupCacheSeconds: wholeNumber(0, MAX_GROUP_CACHE_SECONDS, "seconds a user's group membership read from Graph is trusted").default(
        DEFAULT_GROUP_CACHE_SECONDS,
      ),
      membershipRecheckSeconds: wholeNumber(1, MAX_MEMBERSHIP_RECHECK_SECONDS, 'seconds between membership re-reads for users with open tunnels').default(
        DEFAULT_MEMBERSHIP_RECHECK_SECONDS,
      ),
      membershipGraceSeconds: wholeNumber(
        0,
        MAX_MEMBERSHIP_GRACE_SECONDS,
        'seconds live tunnels outlive the last confirmed membership while Microsoft Graph cannot answer',
      ).default(DEFAULT_MEMBERSHIP_GRACE_SECONDS),
      graphRetryBudget: duration(
        'the longest total wait for a throttled Microsoft Graph in one call, e.g. 10s',
        MAX_GRAPH_RETRY_BUDGET_MS,
        'a request path must not hang on Graph',
      ).default(DEFAULT_GRAPH_RETRY_BUDGET_MS),
      resources: resourcesSchema(options.env, options.baseDir, idsOnly),
      auditors: groupRefList(`groups that may read the audit log — ${GROUPS_HINT}`, { nonEmpty: false, idsOnly }).default([]),
      admins: groupRefList(`groups that administer the broker — ${GROUPS_HINT}`, { nonEmpty: false, idsOnly }).default([]),
      limits: limitsSchema().optional(),
      forwardAuth: forwardAuthSchema().optional(),
      tls: tlsSchema(options.baseDir).optional(),
      notifications: notificationsSchema({ env: options.env, baseDir: options.baseDir }).optional(),
      trustedProxies: networkList('the reverse proxies whose X-Forwarded-For the broker believes, e.g. [10.0.5.10/32]').optional(),
      store: storeUrl().optional(),
      devTenant,
    },
    'the broker config: resources, auditors, admins and (for `serve`) tenant',
  ).transform((raw, ctx): Omit<BrokerConfig, 'source'> => {
    const devTenantSection = (raw.devTenant as z.output<ReturnType<typeof devTenantSchema>> | undefined) ?? null;
    const { signIn, blockDeviceCode, ...directory } = devTenantSection ?? { signIn: undefined, blockDeviceCode: false };
    const devDirectory = devTenantSection ? (directory as DevDirectory) : null;
    const resources = raw.resources.map(({ groupEntries: _, ...policy }): ResourcePolicy => policy);
    const auditors = refsOf(raw.auditors);
    const admins = refsOf(raw.admins);
    if (devDirectory) {
      for (const problem of undeclaredGroups({ resources, auditors, admins }, new Set(devDirectory.groups.map((g) => g.name)))) addProblem(ctx, problem);
    }
    const { labels, problems } = collectLabels([
      ...raw.resources.flatMap((r) => [
        ...(['requesters', 'approvers', 'autoApprove'] as const).map((key) => ({ path: ['resources', r.name, key], entries: r.groupEntries[key] })),
        { path: ['resources', r.name, 'breakGlass', 'groups'], entries: r.groupEntries.breakGlass },
        ...r.groupEntries.credentials.map((entries, index) => ({ path: ['resources', r.name, 'credentials', index, 'groups'], entries })),
      ]),
      { path: ['auditors'], entries: raw.auditors },
      { path: ['admins'], entries: raw.admins },
    ]);
    for (const problem of problems) addProblem(ctx, problem);
    return {
      tenant: raw.tenant ?? null,
      resources: Object.keys(labels).length === 0 ? resources : resources.map((resource) => ({ ...resource, groupNames: labels })),
      auditors,
      admins,
      groupLabels: labels,
      graphRetryBudgetMs: raw.graphRetryBudget,
      groupCacheSeconds: raw.groupCacheSeconds,
      membershipRecheckSeconds: raw.membershipRecheckSeconds,
      membershipGraceSeconds: raw.membershipGraceSeconds,
      devDirectory,
      ...(devTenantSection ? { devSignIn: { blockDeviceCode, ...(signIn ? { signIn } : {}) } } : {}),
      ...(raw.limits ? { limits: raw.limits } : {}),
      forwardAuth: raw.forwardAuth ?? { auditWindowMs: DEFAULT_FORWARD_AUTH_AUDIT_WINDOW_MS },
      ...(raw.tls ? { tls: raw.tls } : {}),
      ...(raw.notifications ? { notifications: raw.notifications } : {}),
      ...(raw.trustedProxies ? { trustedProxies: raw.trustedProxies } : {}),
      ...(raw.store ? { store: raw.store } : {}),
    };
  });
}

/**
 * Under a dev directory every group the policy names must exist there: a misspelt approver group
 * would otherwise make a resource silently unapprovable.
 */
function undeclaredGroups(config: { resources: ResourcePolicy[]; auditors: string[]; admins: string[] }, declared: ReadonlySet<string>): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const check = (path: ConfigPath, names: readonly string[]): void => {
    names.forEach((name, index) => {
      // An object id names a group of the tenant itself, not one declared by name here.
      if (!declared.has(name) && !isGroupId(name)) problems.push(unknownGroup([...path, index], name));
    });
  };
  for (const resource of config.resources) {
    check(['resources', resource.name, 'requesters'], resource.requesters);
    check(['resources', resource.name, 'approvers'], resource.approvers);
    check(['resources', resource.name, 'autoApprove'], resource.autoApprove);
    if (resource.breakGlass) check(['resources', resource.name, 'breakGlass', 'groups'], resource.breakGlass.groups);
    for (const [index, credential] of resource.credentials.entries()) check(['resources', resource.name, 'credentials', index, 'groups'], credential.groups);
  }
  check(['auditors'], config.auditors);
  check(['admins'], config.admins);
  return problems;
}

function addProblem(ctx: z.core.$RefinementCtx, problem: ConfigProblem): void {
  ctx.addIssue({
    code: 'custom',
    path: [...problem.path],
    message: problem.reason,
    ...('got' in problem ? { input: problem.got } : {}),
  });
}
