// The broker's request service: reads the caller's groups, then in ONE store transaction loads the
// request, applies the pure domain (policy.ts, state-machine.ts) and stores the result; after the
// commit it tells its listeners (events hub, deadline scheduler) and logs the change. Each change
// is also written to the change log in its transaction; changes other brokers committed on a shared
// database come back from there (remote-changes.ts) and reach the same listeners through `relay`.
//
// Group reads are async and happen before the transaction; the transaction re-loads the request,
// so an event always applies to the state as committed at that instant (two approvers racing on
// the same request are serialised there: both reviews are kept, one transition happens).

import { AccessError } from '../../shared/errors.js';
import { callerLimits, type CallerLimits } from '../../shared/limits.js';
import type { ApprovalView, CreateRequestBody, GroupRef, RequestView } from '../../shared/wire.js';
import type { Logger } from '../log.js';
import type { AuditAppender } from '../audit/audit-log.js';
import { refusalEntry, requestEntries, type RefusedAction } from '../audit/request-entries.js';
import type { Principal } from '../auth/principal.js';
import type { BrokerConfig, ResourcePolicy } from '../config/types.js';
import { callerGroups, hasFreshReads, inAnyGroup, type Directory } from '../identity/directory.js';
import { requireConditions } from '../policy/enforce.js';
import type { SqlChangeLog } from '../store/change-log.js';
import { LIST_LIMIT_MAX, type RequestStore, type RowPosition } from '../store/request-store.js';
import { pendingExtension } from './extension.js';
import { randomRequestId, type IdGenerator } from './ids.js';
import { openRequest, type RequestContext } from './policy.js';
import { applyEvent, type Outcome } from './state-machine.js';
import type { AccessRequest, Actor, PostReviewVerdict, RequestChange, RequestEvent, RequestState } from './types.js';
import { toRequestView } from './view.js';
import { actorName, actorOf } from './wording.js';

/** How many of the requester's earlier requests on the resource an approver sees (`access review`). */
export const RECENT_REQUESTS_SHOWN = 5;
/** Fresh ids tried before giving up; with 50 random bits a second attempt is already a curiosity. */
const MAX_ID_ATTEMPTS = 5;
/** A deadline handled later than this is logged as overdue (the broker was down or busy at the time). */
const OVERDUE_AFTER_MS = 1_000;

/** Where a change was committed: by this broker, or by another one sharing its database (read from the change log). */
export type ChangeOrigin = 'local' | 'remote';

/** Called after every committed mutation with the request as stored and what happened to it. */
export type ChangeListener = (request: AccessRequest, changes: readonly RequestChange[], origin: ChangeOrigin) => void;

export interface RequestServiceOptions {
  config: BrokerConfig;
  store: RequestStore;
  /** Usually the broker's CachedDirectory: `memberGroups` is cached, `fresh` reads Graph now. */
  directory: Directory;
  now: () => number;
  log: Logger;
  /** Default: 10 random base32 characters (ids.ts). */
  newId?: IdGenerator;
  /**
   * The audit log on the store's database connection: every change is appended in the transaction
   * that stores it, every refusal in a transaction of its own. Absent: nothing is audited.
   */
  audit?: AuditAppender;
  /**
   * Called inside the transaction that stores every change (like the audit log): the notification
   * outbox writes its rows there, so a notice exists exactly when its change does.
   */
  notify?: (request: AccessRequest, changes: readonly RequestChange[], at: number) => void;
  /** Records every change in the transaction that stores it (store/change-log.ts), for the other brokers. Absent: not recorded. */
  changeLog?: Pick<SqlChangeLog, 'append'>;
}

export interface ListMineOptions {
  /** Only these states; all states when absent. */
  states?: RequestState[];
  limit?: number;
}

export class RequestService {
  readonly #config: BrokerConfig;
  readonly #store: RequestStore;
  readonly #directory: Directory;
  readonly #now: () => number;
  readonly #log: Logger;
  readonly #newId: IdGenerator;
  readonly #audit: AuditAppender | null;
  readonly #notify: RequestServiceOptions['notify'] | null;
  readonly #changeLog: RequestServiceOptions['changeLog'] | null;
  readonly #listeners = new Set<ChangeListener>();
  /** The per-caller limits of this broker (its config's `limits` over the defaults). */
  readonly limits: CallerLimits;

  constructor(options: RequestServiceOptions) {
    this.#config = options.config;
    this.limits = callerLimits(options.config.limits);
    this.#store = options.store;
    this.#directory = options.directory;
    this.#now = options.now;
    this.#log = options.log;
    this.#newId = options.newId ?? randomRequestId;
    this.#audit = options.audit ?? null;
    this.#notify = options.notify ?? null;
    this.#changeLog = options.changeLog ?? null;
  }

  /** Registers a listener for committed changes, this broker's and the others'; returns its removal. */
  onChange(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Tells the listeners of a change another broker committed (remote-changes.ts): its waiting
   * requesters, `watch` streams and tunnels held here learn of it as of one made here. Nothing is
   * written or logged: the broker that made the change did that.
   */
  relay(request: AccessRequest, changes: readonly RequestChange[]): void {
    this.#tell(request, changes, 'remote');
  }

  /** The resource's policy as configured now, or null when the resource has left the configuration. */
  policyOf(resource: string): ResourcePolicy | null {
    return this.#config.resources.find((r) => r.name === resource) ?? null;
  }

  view(request: AccessRequest): RequestView {
    return toRequestView(request, this.policyOf(request.resource));
  }

  async create(principal: Principal, body: CreateRequestBody): Promise<RequestView> {
    const asked = {
      duration: body.duration ?? null,
      reason: body.reason ?? null,
      ticket: body.ticket ?? null,
      ...(body.breakGlass ? { breakGlass: true } : {}),
    };
    return this.#refusing('create', principal, { requestId: null, resource: body.resource }, asked, () => this.#create(principal, body));
  }

  async #create(principal: Principal, body: CreateRequestBody): Promise<RequestView> {
    // A workload asks under the resource's `workloads`, a person under its requester groups.
    const workload = principal.kind === 'app' ? (principal.appId?.toLowerCase() ?? '') : null;
    // Break-glass skips approval, so membership of its groups is read from Graph now, never the cache.
    const groups =
      workload !== null ? [] : body.breakGlass ? (await this.#groupsForDecision(principal)).current : await this.#directory.memberGroups(principal.oid);
    const policy = this.policyOf(body.resource);
    if (!policy) throw this.#unknownResource(body.resource, groups);
    // The resource's conditions, for its requesters (or workloads) only: a stranger learns nothing about
    // them (openRequest refuses them as not_a_requester / not_a_workload).
    const eligible = workload !== null ? policy.workloads.includes(workload) : inAnyGroup(groups, policy.requesters);
    if (eligible) requireConditions(policy, principal, this.#now());
    const ctx = { ...this.#context(policy), workload };
    const input = {
      resource: body.resource,
      duration: body.duration ?? null,
      reason: body.reason ?? null,
      ticket: body.ticket ?? null,
      breakGlass: body.breakGlass === true,
    };
    const { request, changes } = this.#store.transaction(() => {
      // Counted in the transaction that inserts, so two racing calls cannot both pass at the cap.
      this.#assertPendingRoom(principal);
      const opened = openRequest(input, actorOf(principal), groups, ctx, this.#freshId());
      this.#store.insert(opened.request);
      this.#record(opened.request, opened.changes, actorOf(principal), opened.request.createdAt);
      return opened;
    });
    this.#announce(request, changes, actorOf(principal));
    return this.view(request);
  }

  /** Refuses (429) a person who already holds `limits.maxPendingPerUser` pending requests. */
  #assertPendingRoom(principal: Principal): void {
    const cap = this.limits.maxPendingPerUser;
    const pending = this.#store.countPending(principal.oid, this.#now());
    if (pending < cap) return;
    throw new AccessError(
      'too_many_pending',
      `You already have ${pending} pending requests, the most one person may hold (${cap}). ` +
        'Wait for a decision, or withdraw one with `access cancel ID` (`access requests` lists them).',
    );
  }

  async get(principal: Principal, id: string): Promise<RequestView> {
    const groups = await callerGroups(this.#directory, principal);
    return this.view(this.#visible(this.#store.get(id), id, principal, groups));
  }

  /** One page of the caller's own requests, newest first, strictly before `before`; `next` as for approvalsPage. */
  async requestsPage(
    principal: Principal,
    page: { states?: RequestState[]; limit: number; before: RowPosition | null },
  ): Promise<{ requests: RequestView[]; next: RowPosition | null }> {
    const read = this.#store.pageByRequester(principal.oid, page);
    return { requests: read.requests.map((request) => this.view(request)), next: read.next };
  }

  /** The caller's own requests, newest first. */
  async listMine(principal: Principal, options: ListMineOptions = {}): Promise<RequestView[]> {
    const found = this.#store.listByRequester(principal.oid, options);
    return found.map((request) => this.view(request));
  }

  /**
   * Pending requests the caller can act on now (approver of the resource, not the requester, not
   * yet reviewed by them), oldest first, each with the requester's groups and recent requests.
   */
  async listApprovals(principal: Principal): Promise<ApprovalView[]> {
    return (await this.approvalsPage(principal, { limit: LIST_LIMIT_MAX, after: null })).approvals;
  }

  /** One page of listApprovals, strictly after `after`; `next` is where the following page starts (null: none). */
  async approvalsPage(
    principal: Principal,
    page: { limit: number; after: RowPosition | null },
  ): Promise<{ approvals: ApprovalView[]; next: RowPosition | null }> {
    if (principal.kind !== 'user') return { approvals: [], next: null };
    const groups = await this.#directory.memberGroups(principal.oid);
    const now = this.#now();
    const resources = this.#config.resources.filter((policy) => inAnyGroup(groups, policy.approvers)).map((policy) => policy.name);
    const actionable = (r: AccessRequest): boolean => {
      if (r.requester.oid === principal.oid) return false;
      // A live grant in this queue waits for a decision on its extension.
      const extension = r.state === 'approved' ? pendingExtension(r) : null;
      if (extension) return r.expiresAt !== null && r.expiresAt > now && !extension.reviews.some((v) => v.reviewer.oid === principal.oid);
      return r.pendingUntil > now && !r.reviews.some((v) => v.reviewer.oid === principal.oid);
    };
    // Whole store pages are consumed, so `next` never skips a row; rows the caller cannot act on
    // (their own, already reviewed) leave room that the next store page fills.
    const waiting: AccessRequest[] = [];
    let next = page.after;
    do {
      const read = this.#store.pagePending(resources, { limit: page.limit - waiting.length, after: next });
      waiting.push(...read.requests.filter(actionable));
      next = read.next;
    } while (next !== null && waiting.length < page.limit);
    return { approvals: await this.#withContext(waiting), next };
  }

  /** Each waiting request with what an approver weighs: the requester's groups and recent requests. */
  async #withContext(waiting: readonly AccessRequest[]): Promise<ApprovalView[]> {
    // One directory read per requester, however many of their requests wait.
    const groupReads = new Map<string, Promise<GroupRef[]>>();
    const requesterGroups = (oid: string): Promise<GroupRef[]> => {
      const read = groupReads.get(oid) ?? this.#directory.memberGroups(oid);
      groupReads.set(oid, read);
      return read;
    };
    return Promise.all(
      waiting.map(
        async (request): Promise<ApprovalView> => ({
          ...this.view(request),
          requesterGroups: await requesterGroups(request.requester.oid),
          recent: this.#store
            .recentFor(request.requester.oid, request.resource, RECENT_REQUESTS_SHOWN + 1)
            .filter((earlier) => earlier.id !== request.id)
            .slice(0, RECENT_REQUESTS_SHOWN)
            .map((earlier) => this.view(earlier)),
        }),
      ),
    );
  }

  async review(principal: Principal, id: string, decision: 'approve' | 'deny', comment: string | null): Promise<RequestView> {
    return this.#refusing('review', principal, { requestId: id }, { decision, comment }, async () => {
      requirePerson(principal, 'review requests');
      const { seen, current } = await this.#groupsForDecision(principal);
      if (decision === 'approve') this.#requireApproverConditions(principal, id, current);
      const reviewer = actorOf(principal);
      return this.#mutate(id, principal, seen, { type: 'review', reviewer, reviewerGroups: current, decision, comment });
    });
  }

  async cancel(principal: Principal, id: string): Promise<RequestView> {
    return this.#refusing('cancel', principal, { requestId: id }, {}, async () => {
      const groups = await callerGroups(this.#directory, principal);
      return this.#mutate(id, principal, groups, { type: 'cancel', by: actorOf(principal) });
    });
  }

  async revoke(principal: Principal, id: string, reason: string | null): Promise<RequestView> {
    return this.#refusing('revoke', principal, { requestId: id }, { reason }, async () => {
      const { seen, current } = await this.#groupsForDecision(principal);
      return this.#mutate(id, principal, seen, { type: 'revoke', by: actorOf(principal), byGroups: current, reason });
    });
  }

  /**
   * Asks for `duration` more on a live grant of the caller's (`access extend`): approved by policy
   * within extend.approval none-within, else pending for the resource's approvers.
   */
  async extend(principal: Principal, id: string, duration: string, reason: string | null): Promise<RequestView> {
    return this.#refusing('extend', principal, { requestId: id }, { duration, reason }, async () => {
      requirePerson(principal, 'extend a grant');
      // The requester's membership now: someone who left the requester groups gets no more time.
      const { seen, current } = await this.#groupsForDecision(principal);
      return this.#mutate(id, principal, seen, { type: 'extend', by: actorOf(principal), byGroups: current, duration, reason });
    });
  }

  /** Records an approver's verdict on a break-glass grant (its mandatory post-review). */
  async postReview(principal: Principal, id: string, verdict: PostReviewVerdict, comment: string | null): Promise<RequestView> {
    return this.#refusing('post_review', principal, { requestId: id }, { verdict, comment }, async () => {
      requirePerson(principal, 'post-review a break-glass grant');
      const { seen, current } = await this.#groupsForDecision(principal);
      return this.#mutate(id, principal, seen, { type: 'post_review', by: actorOf(principal), byGroups: current, verdict, comment });
    });
  }

  /** Break-glass grants on resources the caller approves that wait for a post-review (not their own), oldest first. */
  async breakGlassToReview(principal: Principal): Promise<RequestView[]> {
    if (principal.kind !== 'user') return [];
    const groups = await this.#directory.memberGroups(principal.oid);
    const resources = this.#config.resources.filter((policy) => inAnyGroup(groups, policy.approvers)).map((policy) => policy.name);
    return this.#store
      .listUnreviewedBreakGlass(resources, LIST_LIMIT_MAX)
      .filter((request) => request.requester.oid !== principal.oid)
      .map((request) => this.view(request));
  }

  /**
   * Applies the clock to every request whose deadline has come (pending past pendingUntil →
   * timed_out, grants past expiresAt → expired, closedAt = the deadline itself). Returns how many
   * changed. One transaction per request, so one bad row cannot hold back the others.
   */
  sweep(): number {
    const now = this.#now();
    let changed = 0;
    for (const due of this.#store.listDue(now)) {
      try {
        const outcome = this.#store.transaction(() => this.#apply(due.id, { type: 'tick' }, now, (current) => current ?? missing(due.id)));
        if (outcome.changes.length === 0) continue;
        changed += 1;
        this.#announce(outcome.request, outcome.changes, null);
      } catch (error) {
        this.#log.error('deadline sweep failed for a request', { id: due.id, error: error instanceof Error ? error.stack : String(error) });
      }
    }
    return changed;
  }

  async #mutate(id: string, principal: Principal, groups: readonly GroupRef[], event: RequestEvent): Promise<RequestView> {
    const now = this.#now();
    const outcome = this.#store.transaction(() => this.#apply(id, event, now, (current) => this.#visible(current, id, principal, groups)));
    if (outcome.changes.length > 0) this.#announce(outcome.request, outcome.changes, actorOf(principal));
    if (!outcome.ok) throw outcome.refusal;
    return this.view(outcome.request);
  }

  /**
   * Inside a transaction: loads the request as committed now, applies the event and saves the
   * result. A refusal saves what the clock did first (a timeout or expiry) and is returned for the
   * caller to throw after the commit.
   */
  #apply(id: string, event: RequestEvent, now: number, check: (current: AccessRequest | null) => AccessRequest): Outcome {
    const current = check(this.#store.get(id));
    const outcome = applyEvent(current, event, { policy: this.policyOf(current.resource), admins: this.#config.admins, now });
    if (outcome.changes.length > 0) this.#store.save(outcome.request);
    this.#record(outcome.request, outcome.changes, eventActor(event), now);
    return outcome;
  }

  /** Inside the transaction that stores the change: its audit entries and notices commit with it or not at all. */
  #record(request: AccessRequest, changes: readonly RequestChange[], actor: Actor | null, at: number): void {
    if (changes.length > 0) {
      this.#notify?.(request, changes, at);
      this.#changeLog?.append(request.id, changes, at);
    }
    if (!this.#audit) return;
    for (const entry of requestEntries(request, changes, actor, at)) this.#audit.append(entry);
  }

  /**
   * Runs `act`; when it is refused (a 4xx AccessError: policy, permissions, state, lookups), the
   * refusal is appended to the audit log in a small transaction of its own (the refused one rolled
   * back) before the error goes on to the caller.
   */
  async #refusing<T>(
    action: RefusedAction,
    principal: Principal,
    target: { requestId: string | null; resource?: string },
    details: Record<string, unknown>,
    act: () => Promise<T>,
  ): Promise<T> {
    try {
      return await act();
    } catch (error) {
      if (this.#audit && isRefusal(error)) {
        try {
          const resource = target.resource ?? (target.requestId === null ? null : (this.#store.get(target.requestId)?.resource ?? null));
          const entry = refusalEntry(action, actorOf(principal), { requestId: target.requestId, resource }, error, details, this.#now());
          this.#store.transaction(() => this.#audit?.append(entry));
        } catch (auditError) {
          // The caller must still learn why they were refused; the failed append is the operator's problem.
          this.#log.error('audit entry for a refusal could not be written', {
            action,
            code: error.code,
            error: auditError instanceof Error ? auditError.message : String(auditError),
          });
        }
      }
      throw error;
    }
  }

  #announce(request: AccessRequest, changes: readonly RequestChange[], actor: Actor | null): void {
    for (const change of changes) this.#logChange(change, request, actor);
    this.#tell(request, changes, 'local');
  }

  #tell(request: AccessRequest, changes: readonly RequestChange[], origin: ChangeOrigin): void {
    for (const listener of this.#listeners) {
      try {
        listener(request, changes, origin);
      } catch (error) {
        // The change is committed: a failing listener must not turn it into an error for the caller.
        this.#log.error('request change listener failed', { id: request.id, error: error instanceof Error ? error.stack : String(error) });
      }
    }
  }

  #logChange(change: RequestChange, request: AccessRequest, actor: Actor | null): void {
    const fields: Record<string, unknown> = {
      id: request.id,
      resource: request.resource,
      requester: actorName(request.requester),
      state: request.state,
    };
    if (actor) fields['by'] = actorName(actor);
    if (request.expiresAt !== null && (change === 'approved' || change === 'auto_approved' || change === 'extended' || change === 'break_glass'))
      fields['expiresAt'] = new Date(request.expiresAt).toISOString();
    if (request.closeReason) fields['reason'] = request.closeReason;
    // A clock transition handled well after its deadline happened while the broker was not running.
    const late = actor === null && request.closedAt !== null ? this.#now() - request.closedAt : 0;
    if (late > OVERDUE_AFTER_MS) {
      fields['deadline'] = new Date(request.closedAt ?? 0).toISOString();
      fields['overdueMs'] = late;
    }
    this.#log.info(late > OVERDUE_AFTER_MS ? `request ${change} (deadline passed while the broker was down)` : `request ${change}`, fields);
  }

  /** Who may see a request: its requester, approvers of its resource, admins and auditors. Others learn nothing. */
  #visible(request: AccessRequest | null, id: string, principal: Principal, groups: readonly GroupRef[]): AccessRequest {
    if (request) {
      if (request.requester.oid === principal.oid) return request;
      const approvers = this.policyOf(request.resource)?.approvers ?? [];
      if (inAnyGroup(groups, [...approvers, ...this.#config.admins, ...this.#config.auditors])) return request;
    }
    // The same answer whether it does not exist or is not theirs: ids are not probed for existence.
    throw new AccessError(
      'request_not_found',
      `No request "${id}" that you can see — list yours with \`access requests\`, pending reviews with \`access approvals\`.`,
    );
  }

  /**
   * An approval counts only from an approver whose own sign-in and connection meet the resource's
   * conditions (an approver without MFA must not open an MFA-only resource to someone else). Checked
   * for eligible approvers of a request they can see; everyone else is refused as before by the
   * state machine, learning nothing of the conditions. A deny needs no conditions: it grants nothing.
   */
  #requireApproverConditions(principal: Principal, id: string, current: readonly GroupRef[]): void {
    const request = this.#store.get(id);
    if (!request) return;
    const policy = this.policyOf(request.resource);
    if (!policy || !inAnyGroup(current, policy.approvers)) return;
    requireConditions(policy, principal, this.#now());
  }

  #unknownResource(resource: string, groups: readonly GroupRef[]): AccessError {
    const allowed = this.#config.resources.filter((r) => inAnyGroup(groups, r.requesters)).map((r) => r.name);
    const choices = allowed.length > 0 ? `You may request: ${allowed.join(', ')}.` : 'You may not request any resource yet — ask an admin which group to join.';
    return new AccessError('unknown_resource', `No resource named ${JSON.stringify(resource)}. ${choices}`);
  }

  #context(policy: ResourcePolicy): RequestContext {
    return { policy, admins: this.#config.admins, now: this.#now() };
  }

  #freshId(): string {
    for (let attempt = 0; attempt < MAX_ID_ATTEMPTS; attempt++) {
      const id = this.#newId();
      if (!this.#store.get(id)) return id;
    }
    throw new AccessError('internal', `no unused request id after ${MAX_ID_ATTEMPTS} attempts; the id generator is broken`);
  }

  /**
   * Groups for a review or revoke. The decision uses `current`, read through Graph at this moment
   * (never the cache: someone just removed from the approver group must not count). Visibility
   * uses what the caller was last shown (`seen`, the cached read), so an approver removed a moment
   * ago is told they may no longer review rather than that the request does not exist.
   */
  async #groupsForDecision(principal: Principal): Promise<{ seen: GroupRef[]; current: GroupRef[] }> {
    if (principal.kind === 'app') return { seen: [], current: [] };
    const directory = this.#directory;
    if (!hasFreshReads(directory)) {
      const groups = await directory.memberGroups(principal.oid);
      return { seen: groups, current: groups };
    }
    // Together: on a cache miss both share one Graph read (CachedDirectory joins lookups in flight).
    const [seen, current] = await Promise.all([directory.memberGroups(principal.oid), directory.fresh(principal.oid)]);
    return { seen: [...seen, ...current], current };
  }
}

/** Who causes an event: the reviewer, canceller or revoker; nobody for the clock. */
function eventActor(event: RequestEvent): Actor | null {
  switch (event.type) {
    case 'review':
      return event.reviewer;
    case 'cancel':
    case 'revoke':
    case 'extend':
    case 'post_review':
      return event.by;
    case 'tick':
      return null;
  }
}

/**
 * A refusal of what the caller asked (4xx), as opposed to the broker failing (directory or store
 * unavailable) or losing a write race (store_conflict, retried by the caller).
 */
function isRefusal(error: unknown): error is AccessError {
  return error instanceof AccessError && error.status < 500 && error.code !== 'store_conflict';
}

function requirePerson(principal: Principal, action: string): void {
  if (principal.kind === 'user') return;
  throw new AccessError('forbidden', `An application token may not ${action}: a person must, signed in with \`access login\`.`);
}

function missing(id: string): never {
  throw new AccessError('request_not_found', `No request "${id}".`);
}
