import { registerAdminApi } from '../admin/admin-openapi';
import { registerEventsApi } from '../admin/event-webhook-openapi';
import { registerAdmissionApi } from '../admission/admission-openapi';
import { registerConsoleApi } from '../admin/console-openapi';
import type { OpenApiPart } from '../http/openapi';
import { registerOperationsApi, registerVisitorApi } from '../http/visitor-openapi';

/**
 * Every area's part of the OpenAPI document, in the order the document lists
 * them. A new area adds its registration function here: one line, e.g.
 * `(registry, ctx) => registerConsoleApi(registry, ctx.adminBase, ctx.errorSchema, ctx.security.admin)`
 * for a function that takes its pieces one by one, or `registerEventWebhooks`
 * (a `webhooks` section) as it is. The OpenAPI test then requires every route
 * the area mounts to be in the document and its answers to validate.
 */
export const OPENAPI_PARTS: readonly OpenApiPart[] = [
  registerVisitorApi,
  registerAdmissionApi,
  registerAdminApi,
  (r, c) => registerConsoleApi(r, c.adminBase, c.errorSchema, c.security.admin),
  registerEventsApi,
  registerOperationsApi,
];
