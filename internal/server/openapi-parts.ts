import { registerAdminApi } from '../admin/admin-openapi';
import { registerAdmissionApi } from '../admission/admission-openapi';
import type { OpenApiPart } from '../http/openapi';
import { registerOperationsApi, registerVisitorApi } from '../http/visitor-openapi';

/**
 * Every area's part of the OpenAPI document, in the order the document lists
 * them. A new area adds its registration function here: one line.
 */
export const OPENAPI_PARTS: readonly OpenApiPart[] = [registerVisitorApi, registerAdmissionApi, registerAdminApi, registerOperationsApi];
