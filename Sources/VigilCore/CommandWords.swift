/// A command line's words, split on spaces and tabs as bytes: a space followed by a combining
/// mark is one grapheme to `String`, but still separates two words here, as it does for a shell
/// and for the technician who typed it.
public enum CommandWords {
  public static func split(_ line: String) -> [String] {
    var words: [String] = []
    var word: [UInt8] = []
    for b in line.utf8 {
      if b == 0x20 || b == 0x09 {
        if !word.isEmpty { words.append(String(decoding: word, as: UTF8.self)) }
        word.removeAll(keepingCapacity: true)
      } else {
        word.append(b)
      }
    }
    if !word.isEmpty { words.append(String(decoding: word, as: UTF8.self)) }
    return words
  }
}
