// Guest users are told apart by their sub alone: the server mints it
// (POST /api/auth/guest) and no other token it signs starts this way.

export const GUEST_SUB_PREFIX = 'guest:'

export const isGuest = (sub: string): boolean => sub.startsWith(GUEST_SUB_PREFIX)

/**
 * Lifetime of a guest token. There is no configuration key for it (yet):
 * one hour, after which the browser renews it (POST /api/auth/guest/renew,
 * same sub) and replaces it on the socket with an `auth` message before `exp`.
 */
export const GUEST_TOKEN_TTL_SEC = 3600
