// A linear pre-parse check of JSON nesting. JSON.parse is iterative, but
// what comes after it is not: JSON.stringify of an echoed ping id, a
// republished `data`, or any recursive walk overflows the stack on a value
// nested a few thousand deep, which fits in one 16 KiB message. So a text
// message is scanned before parsing and refused when it nests too deep.
//
// The scan follows JSON's string lexing exactly (a string runs from `"` to
// the next `"` not escaped by a backslash), so for any text JSON.parse
// accepts, the depth it reports is the depth of the parsed value: brackets
// inside strings never count. For text JSON.parse would refuse, it may say
// anything; the parse refuses it anyway.

const QUOTE = 0x22
const BACKSLASH = 0x5c
const OPEN_BRACE = 0x7b
const OPEN_BRACKET = 0x5b
const CLOSE_BRACE = 0x7d
const CLOSE_BRACKET = 0x5d

/**
 * True when `text` opens more than `maxDepth` arrays and objects inside each
 * other (the outermost counts as 1). Stops at the first bracket too deep:
 * O(length) at worst, no allocation.
 */
export function jsonTooDeep (text: string, maxDepth: number): boolean {
  // Each level needs at least one character: a short text cannot be deep.
  if (text.length <= maxDepth) return false
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === BACKSLASH) i++ // the escaped character, whatever it is, cannot end the string
      else if (c === QUOTE) inString = false
    } else if (c === QUOTE) {
      inString = true
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > maxDepth) return true
    } else if ((c === CLOSE_BRACE || c === CLOSE_BRACKET) && depth > 0) {
      depth--
    }
  }
  return false
}
