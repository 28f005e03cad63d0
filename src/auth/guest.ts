// Guest users are told apart by their sub alone: the server mints it
// (POST /api/auth/guest) and no other token it signs starts this way.

export const GUEST_SUB_PREFIX = 'guest:'

export const isGuest = (sub: string): boolean => sub.startsWith(GUEST_SUB_PREFIX)
