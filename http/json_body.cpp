#include "http/json_body.hpp"

#include <cmath>
#include <set>
#include <vector>

namespace gh::http {
namespace {

using nlohmann::json;

// Builds the DOM through nlohmann's own SAX DOM builder, adding the checks.
class StrictSax : public json::json_sax_t {
 public:
  StrictSax(json& root, int max_depth) : dom_(root, false), max_depth_(max_depth) {}

  bool null() override { return dom_.null(); }
  bool boolean(bool v) override { return dom_.boolean(v); }
  bool number_integer(number_integer_t v) override { return dom_.number_integer(v); }
  bool number_unsigned(number_unsigned_t v) override { return dom_.number_unsigned(v); }
  bool number_float(number_float_t v, const string_t& s) override {
    if (!std::isfinite(v)) return fail("a number is out of range");
    return dom_.number_float(v, s);
  }
  bool string(string_t& v) override { return dom_.string(v); }
  bool binary(binary_t& v) override { return fail("binary values are not JSON"); }
  bool start_object(std::size_t n) override {
    if (!enter()) return false;
    keys_.emplace_back();
    return dom_.start_object(n);
  }
  bool key(string_t& k) override {
    if (!keys_.back().insert(k).second) return fail("duplicate key '" + k.substr(0, 64) + "'");
    return dom_.key(k);
  }
  bool end_object() override {
    keys_.pop_back();
    --depth_;
    return dom_.end_object();
  }
  bool start_array(std::size_t n) override { return enter() && dom_.start_array(n); }
  bool end_array() override {
    --depth_;
    return dom_.end_array();
  }
  bool parse_error(std::size_t pos, const std::string&, const nlohmann::detail::exception&) override {
    if (why_.empty()) why_ = "malformed JSON at byte " + std::to_string(pos);
    return false;
  }

  const std::string& why() const { return why_; }

 private:
  bool enter() {
    if (++depth_ > max_depth_) return fail("JSON nests deeper than " + std::to_string(max_depth_));
    return true;
  }
  bool fail(std::string why) {
    if (why_.empty()) why_ = std::move(why);
    return false;
  }

  nlohmann::detail::json_sax_dom_parser<json> dom_;
  int max_depth_;
  int depth_ = 0;
  std::vector<std::set<std::string>> keys_;
  std::string why_;
};

}  // namespace

std::optional<json> parse_json_object(std::string_view body, int max_depth, std::string& why) {
  json root;
  StrictSax sax(root, max_depth);
  bool ok = json::sax_parse(body.begin(), body.end(), &sax, nlohmann::detail::input_format_t::json,
                            true, false);
  if (!ok) {
    why = sax.why().empty() ? "malformed JSON" : sax.why();
    return std::nullopt;
  }
  if (!root.is_object()) {
    why = "the body must be a JSON object";
    return std::nullopt;
  }
  return root;
}

}  // namespace gh::http
