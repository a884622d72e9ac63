// Minimal text extraction from small, trusted-shape XML answers (S3 error bodies, multipart
// upload answers): the text of the first <Tag>...</Tag>, with the five predefined entities and
// numeric character references decoded. Not a general XML parser.
//
// THREADING: pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace sluice::sink {

// The decoded text of the first element named `tag` (no namespace prefix), or "" when absent.
std::string XmlText(std::string_view xml, std::string_view tag);

// `text` with & < > " ' escaped for an XML text node.
std::string XmlEscape(std::string_view text);

}  // namespace sluice::sink
