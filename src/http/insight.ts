import type Koa from 'koa';
import { FlowError } from '../domain/errors.js';
import type { AppState } from './app.js';
import { dashboardRoutes } from './dashboardRoutes.js';
import type { DashboardDeps, Refusal } from './dashboardState.js';
import { dryRunRoutes, type DryRunDeps } from './dryRun.js';
import { explainRoutes, type ExplainRouteDeps } from './explainRoutes.js';
import { errorStatus } from './errors.js';

export interface InsightDeps {
  dryRun: DryRunDeps;
  explain: ExplainRouteDeps;
  dashboard: Omit<DashboardDeps, 'refused'> & { dir?: string };
}

/** Mounts several route sets in order. */
export function mountAll(...mounts: Array<(app: Koa<AppState>) => void>): (app: Koa<AppState>) => void {
  return (app) => {
    for (const m of mounts) m(app);
  };
}

/** How many refused calls the dashboard remembers. */
const KEEP_REFUSALS = 50;
const CHANGES = /^\/v1\/docker-flow-proxy\/(reconfigure|remove)$/;

/**
 * Seeing and explaining what the proxy does (issue 19): dry runs of
 * reconfigure and remove, /explain, and the dashboard with its state
 * endpoint. `before` must be mounted ahead of the docker-flow-proxy routes
 * (it answers dry runs and watches refused changes), `after` anywhere.
 */
export function insightRoutes(deps: InsightDeps): { before: (app: Koa<AppState>) => void; after: (app: Koa<AppState>) => void } {
  const refusals: Refusal[] = [];
  const remember = (ctx: Koa.ParameterizedContext<AppState>, endpoint: string, status: number, message: string, serviceName: string) => {
    refusals.push({ ServiceName: serviceName, Endpoint: endpoint, Status: status, Reason: message, At: new Date().toISOString(), ChangeId: ctx.state.changeId });
    if (refusals.length > KEEP_REFUSALS) refusals.shift();
  };
  const watch: Koa.Middleware<AppState> = async (ctx, next) => {
    const endpoint = CHANGES.exec(ctx.path)?.[1];
    if (endpoint === undefined) return next();
    try {
      await next();
    } catch (e) {
      const status = errorStatus(e);
      if (e instanceof FlowError && status >= 400 && status < 500) remember(ctx, endpoint, status, e.message, '');
      throw e;
    }
    const body = ctx.body as { DryRun?: boolean; Message?: string; ServiceName?: string } | undefined;
    if (ctx.status >= 400 && ctx.status < 500 && body && !body.DryRun) remember(ctx, endpoint, ctx.status, String(body.Message ?? ''), String(body.ServiceName ?? ''));
  };
  return {
    before: (app) => {
      app.use(watch);
      dryRunRoutes(deps.dryRun)(app);
    },
    after: (app) => {
      explainRoutes(deps.explain)(app);
      dashboardRoutes({ ...deps.dashboard, refused: () => refusals })(app);
    },
  };
}
