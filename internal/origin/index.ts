/**
 * The origin connector: what a Node.js site behind a waitroom imports to
 * enforce admission itself. It depends only on jose, cookie and Express types,
 * not on the rest of the waiting room.
 */
export { requireAdmission, type Admission, type RequireAdmissionOptions } from './require-admission';
