import type { ZodError } from 'zod';

/** A schema refusal in one line: `field: message; field: message`, the whole value named `whole`. */
export function describeIssues(error: ZodError, whole: string): string {
  return error.issues.map((issue) => `${issue.path.join('.') || whole}: ${issue.message}`).join('; ');
}
