// A test double of `@aws-appsync/utils`, implementing only what graphql/resolvers/*.js use,
// with AppSync's documented semantics. Never deployed; nothing is installed from npm.
//
// Tests drive it through globalThis.__appsync: `now` (epoch ms) fixes util.time, and
// `subscriptionFilter` captures what extensions.setSubscriptionFilter received.

const state = (globalThis.__appsync ??= { now: null, subscriptionFilter: undefined });

export class AppSyncError extends Error {
  constructor(message, errorType, data, errorInfo) {
    super(message);
    this.errorType = errorType ?? null;
    this.data = data ?? null;
    this.errorInfo = errorInfo ?? null;
  }
}

const OPERATORS = new Set([
  'eq', 'ne', 'le', 'lt', 'ge', 'gt', 'contains', 'notContains', 'beginsWith', 'in', 'notIn', 'between',
  'attributeExists',
]);

// util.transform.toSubscriptionFilter: {field: {op: value}, ...} is one group whose filters
// are ANDed; {or: [group, ...]} is several groups, ORed. Output is AppSync's filter JSON.
function toGroup(obj) {
  const filters = [];
  for (const [fieldName, ops] of Object.entries(obj)) {
    if (fieldName === 'or' || fieldName === 'and') {
      throw new Error(`shim: nested ${fieldName} is not supported`);
    }
    for (const [operator, value] of Object.entries(ops)) {
      if (!OPERATORS.has(operator)) throw new Error(`shim: unknown operator ${operator}`);
      filters.push({ fieldName, operator, value });
    }
  }
  if (filters.length === 0 || filters.length > 5) throw new Error('AppSync: 1..5 filters per group');
  return { filters };
}

export const util = {
  time: {
    nowISO8601() {
      const now = state.now ?? Date.now();
      return new Date(now).toISOString(); // 2026-11-21T13:25:00.123Z: UTC, milliseconds, Z
    },
    nowEpochMilliSeconds() {
      return state.now ?? Date.now();
    },
  },
  transform: {
    toSubscriptionFilter(filter) {
      const groups = Array.isArray(filter.or) ? filter.or.map(toGroup) : [toGroup(filter)];
      if (groups.length > 10) throw new Error('AppSync: at most 10 filter groups');
      return { filterGroup: groups };
    },
  },
  error(message, errorType, data, errorInfo) {
    throw new AppSyncError(message, errorType, data, errorInfo);
  },
  unauthorized() {
    throw new AppSyncError('Unauthorized', 'Unauthorized');
  },
  authType() {
    return state.authType ?? null;
  },
};

export const extensions = {
  setSubscriptionFilter(filter) {
    state.subscriptionFilter = filter;
  },
};

export const runtime = {
  earlyReturn(value) {
    throw Object.assign(new Error('earlyReturn'), { earlyReturn: true, value });
  },
};
