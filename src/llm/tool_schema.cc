#include "llm/tool_schema.h"

#include <array>
#include <string_view>

#include <nlohmann/json.hpp>

namespace chalkbot {

using nlohmann::json;

namespace {

bool has_type(const json& value, std::string_view type) {
  if (type == "object") return value.is_object();
  if (type == "array") return value.is_array();
  if (type == "string") return value.is_string();
  if (type == "integer") return value.is_number_integer();
  if (type == "number") return value.is_number();
  if (type == "boolean") return value.is_boolean();
  if (type == "null") return value.is_null();
  return false;
}

Status fail(const std::string& path, const std::string& what) {
  return make_error(ErrorKind::kMalformed, path + ": " + what);
}

Status check(const json& schema, const json& value, const std::string& path) {
  if (!schema.is_object()) return {};
  if (const auto type = schema.find("type"); type != schema.end()) {
    bool matched = false;
    if (type->is_string()) {
      matched = has_type(value, type->get_ref<const std::string&>());
    } else if (type->is_array()) {
      for (const json& one : *type)
        matched = matched || (one.is_string() && has_type(value, one.get<std::string>()));
    }
    if (!matched) return fail(path, "expected " + type->dump());
  }
  if (const auto options = schema.find("enum"); options != schema.end() && options->is_array()) {
    bool listed = false;
    for (const json& option : *options) listed = listed || option == value;
    if (!listed) return fail(path, "not one of " + options->dump());
  }
  if (value.is_number()) {
    const double number = value.get<double>();
    if (const auto min = schema.find("minimum");
        min != schema.end() && min->is_number() && number < min->get<double>()) {
      return fail(path, "below the minimum " + min->dump());
    }
    if (const auto max = schema.find("maximum");
        max != schema.end() && max->is_number() && number > max->get<double>()) {
      return fail(path, "above the maximum " + max->dump());
    }
  }
  if (value.is_string()) {
    const auto length = value.get_ref<const std::string&>().size();
    if (const auto min = schema.find("minLength");
        min != schema.end() && min->is_number_unsigned() && length < min->get<std::size_t>()) {
      return fail(path, "shorter than " + min->dump());
    }
    if (const auto max = schema.find("maxLength");
        max != schema.end() && max->is_number_unsigned() && length > max->get<std::size_t>()) {
      return fail(path, "longer than " + max->dump());
    }
  }
  if (value.is_object()) {
    const auto properties = schema.find("properties");
    if (const auto required = schema.find("required");
        required != schema.end() && required->is_array()) {
      for (const json& name : *required) {
        if (name.is_string() && !value.contains(name.get<std::string>())) {
          return fail(path, "missing required '" + name.get<std::string>() + "'");
        }
      }
    }
    const auto extra = schema.find("additionalProperties");
    const bool closed = extra != schema.end() && extra->is_boolean() && !extra->get<bool>();
    for (const auto& [name, item] : value.items()) {
      const bool declared =
          properties != schema.end() && properties->is_object() && properties->contains(name);
      if (!declared) {
        if (closed) return fail(path, "unexpected '" + name + "'");
        continue;
      }
      if (Status ok = check((*properties)[name], item, path + "." + name); !ok) return ok;
    }
  }
  if (value.is_array()) {
    if (const auto items = schema.find("items"); items != schema.end()) {
      for (std::size_t i = 0; i < value.size(); ++i) {
        if (Status ok = check(*items, value[i], path + "[" + std::to_string(i) + "]"); !ok)
          return ok;
      }
    }
  }
  return {};
}

constexpr std::array<std::string_view, 14> kKnownKeywords = {
    "type",      "properties", "required", "additionalProperties",
    "enum",      "minimum",    "maximum",  "minLength",
    "maxLength", "items",      "title",    "description",
    "$schema",   "default"};

std::string problem_in(const json& schema, const std::string& path) {
  if (!schema.is_object()) return path + ": a schema must be an object";
  for (const auto& [key, value] : schema.items()) {
    bool known = false;
    for (std::string_view k : kKnownKeywords) known = known || key == k;
    if (!known) return path + "." + key + ": not a supported schema keyword";
  }
  if (const auto properties = schema.find("properties"); properties != schema.end()) {
    if (!properties->is_object()) return path + ".properties: must be an object";
    for (const auto& [name, sub] : properties->items()) {
      if (std::string p = problem_in(sub, path + ".properties." + name); !p.empty()) return p;
    }
  }
  if (const auto items = schema.find("items"); items != schema.end()) {
    if (std::string p = problem_in(*items, path + ".items"); !p.empty()) return p;
  }
  return {};
}

}  // namespace

Status validate_tool_arguments(const json& schema, const json& arguments) {
  return check(schema, arguments, "$");
}

std::string tools_schema_problem(const json& schema) { return problem_in(schema, "parameters"); }

}  // namespace chalkbot
