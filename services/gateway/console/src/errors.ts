// Refusals in words: the server's ErrorInfo reason, said as a sentence, above
// the server's own message (which names the field, the permission or the
// limit). Reasons not listed here are spelled out from their name.

import { ApiError, Code } from "./api";

const reasons: Record<string, string> = {
  // Any service.
  PERMISSION_DENIED: "You do not have the permission this needs.",
  ALREADY_EXISTS: "Something with that ID already exists.",
  ETAG_MISMATCH: "Someone else changed this meanwhile: reload it and try again.",
  REQUEST_ID_REUSED: "This request was already sent with different content.",
  INVALID_ARGUMENT: "Some of what you entered is not valid.",
  UNREACHABLE: "Steward cannot be reached.",
  // Directory.
  INVALID_CREDENTIALS: "The email or password is wrong.",
  TOTP_REQUIRED: "Enter the code from your authenticator app.",
  TOTP_NOT_CONFIRMED: "That code does not match: try the current one.",
  TOO_MANY_ATTEMPTS: "Too many attempts: wait a moment and try again.",
  OWNER_IMMUTABLE: "The organization's owner cannot be deleted, deactivated, demoted or moved out of Administrators.",
  DEFAULT_GROUP_IMMUTABLE: "Default groups cannot be deleted or renamed, and everyone is in Everyone.",
  USER_HOLDS_ADMINISTRATOR_ROLE: "This user holds the Organization Administrator role: remove it first.",
  SELF_ACTION_FORBIDDEN: "You cannot delete or deactivate the account you are signed in with.",
  NODE_HAS_CHILDREN: "It still has children: delete them first, or force it.",
  EMAIL_TAKEN: "Another member of the organization has this email.",
  DEPARTMENT_NOT_EMPTY: "The department still holds people or departments.",
  ROOT_DEPARTMENT_IMMUTABLE: "The root department cannot be deleted or moved.",
  CYCLE: "A department cannot move under itself.",
  SERVICE_TYPE_MISMATCH: "That does not fit this kind of service.",
  ACCOUNT_SYSTEM_MISMATCH: "That is not how this organization's members sign in.",
  ID_TOKEN_INVALID: "The identity provider's sign-in could not be verified.",
  NOT_PROVISIONABLE: "Your account is not known here, and none of your groups gives you access.",
  API_KEY_REVOKED: "The API key is revoked or expired.",
  ROBOT_ACCOUNT_BOUND: "This robot account belongs to a robot: delete the robot.",
  USER_INACTIVE: "The user is inactive: activate them first.",
  ACCOUNT_SYSTEM_SWITCH_UNCONFIRMED: "Switching the account system must be confirmed.",
  // Access.
  BUILT_IN_ROLE_IMMUTABLE: "Built-in roles cannot be edited or deleted.",
  OWNER_NOT_ASSIGNABLE: "The Owner role is never assigned or removed.",
  PERMISSION_LEVEL_MISMATCH: "A permission does not belong to this role's level or service type.",
  ROLE_LEVEL_MISMATCH: "This role cannot be assigned at this scope.",
  ESCALATION: "You cannot grant a permission you do not hold here.",
  DELEGATION_DENIED: "You may not grant access here.",
  PLATFORM_ROLE_IMMUTABLE: "This is a platform role shown here: remove it at its own scope.",
  BUILT_IN_ASSIGNMENT_IMMUTABLE: "This default assignment cannot be removed.",
  NOT_YET_CONSISTENT: "The change has not reached every service yet: try again.",
  HISTORY_UNAVAILABLE: "Steward keeps no history that far back.",
  // Licensing.
  BATCH_REQUIRES_PROFESSIONAL: "Only Professional licenses can be assigned in a batch.",
  POOL_EXHAUSTED: "Every seat of this license is taken.",
  POOL_EXPIRED: "This license has expired.",
  POOL_NOT_YET_VALID: "This license is not valid yet.",
  CONCURRENT_EXECUTION_DISABLED: "Another job of this user runs, and concurrent execution is off.",
  LICENSE_ALREADY_ASSIGNED: "This member already holds this license.",
  MEMBER_INACTIVE: "The member is inactive.",
  BATCH_REFUSED: "The batch was refused as a whole; nothing was assigned.",
  REQUEST_NOT_PENDING: "The license request was already answered.",
  QUANTITY_BELOW_ASSIGNED: "More seats are assigned than that.",
  LICENSE_REQUIRED: "A license is needed for this.",
  LEASE_ENDED: "The lease has ended.",
  LICENSE_IN_USE: "The license is in use.",
  // Audit.
  TREE_SIZE_UNAVAILABLE: "That point of the log is not available.",
};

/** reasonWords says an ErrorInfo reason in words. */
export function reasonWords(reason: string): string {
  if (reasons[reason]) return reasons[reason];
  if (!reason) return "";
  const s = reason.toLowerCase().replace(/_/g, " ");
  return s.charAt(0).toUpperCase() + s.slice(1) + ".";
}

/** describe is what to show a person for err: a headline and the details. */
export function describe(err: unknown): { headline: string; detail: string } {
  if (err instanceof ApiError) {
    const headline =
      reasonWords(err.reason) ||
      (err.code === Code.PermissionDenied
        ? reasons.PERMISSION_DENIED
        : err.code === Code.InvalidArgument
          ? "Some of what you entered is not valid."
          : err.code === Code.NotFound
            ? "It does not exist (any more)."
            : "The request failed.");
    return { headline, detail: err.message };
  }
  return { headline: "Something went wrong in the console.", detail: String(err) };
}
