// Reading checked TOML: every getter names the file, the line and the key
// when a value is missing its mark, and only_keys() refuses keys a table does
// not know. Shared by the simulator's scenarios and the router's config.
#pragma once

#include <toml++/toml.h>

#include <fstream>
#include <initializer_list>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "aqm/aqm.hpp"
#include "aqm/units.hpp"

namespace dualpilot::common {

// The first error wins; each getter returns false once it has failed and
// leaves its output untouched when the key is absent.
struct TomlReader {
	std::string origin;
	std::string error;

	std::string where(const toml::node &node, std::string_view key) const
	{
		const auto &src = node.source();
		return origin + ":" + std::to_string(src.begin.line) + ": " + std::string(key) + ": ";
	}

	// Records the error (the first one stands) in `error`, where the caller
	// reads it; the false is for `return r.fail(...)`, not a second report,
	// so it may be dropped.
	bool fail(const toml::node &node, std::string_view key, const std::string &message)
	{
		if (error.empty())
			error = where(node, key) + message;
		return false;
	}

	// Rejects keys the table does not know, naming the first.
	[[nodiscard]] bool only_keys(const toml::table &table, std::string_view context,
				     std::initializer_list<std::string_view> known)
	{
		return only_keys(table, context, known, {});
	}
	// The same, where the table also holds one sub-table per AQM, named as
	// aqm::kAqmNames names them ([ports.dualpi2], [bottleneck.pie], ...).
	[[nodiscard]] bool only_keys_and_aqm_tables(const toml::table &table, std::string_view context,
						    std::initializer_list<std::string_view> known)
	{
		return only_keys(table, context, known, aqm::kAqmNames);
	}
	[[nodiscard]] bool only_keys(const toml::table &table, std::string_view context,
				     std::initializer_list<std::string_view> known, std::span<const std::string_view> more)
	{
		for (const auto &[key, node] : table) {
			bool ok = false;
			for (std::string_view k : known)
				ok = ok || k == key.str();
			for (std::string_view k : more)
				ok = ok || k == key.str();
			if (!ok) {
				std::string list;
				auto name = [&list](std::string_view k) { list.append(list.empty() ? "" : " ").append(k); };
				for (std::string_view k : known)
					name(k);
				for (std::string_view k : more)
					name(k);
				return fail(node, key.str(), "unknown key in " + std::string(context) + " (known: " + list + ")");
			}
		}
		return true;
	}

	[[nodiscard]] bool text(const toml::table &t, std::string_view key, std::string &out)
	{
		const toml::node *n = t.get(key);
		if (!n)
			return true;
		if (!n->is_string())
			return fail(*n, key, "expected a string");
		out = n->as_string()->get();
		return true;
	}

	template <typename Parse, typename T>
	[[nodiscard]] bool unit(const toml::table &t, std::string_view key, T &out, Parse parse, const char *example)
	{
		const toml::node *n = t.get(key);
		if (!n)
			return true;
		if (!n->is_string())
			return fail(*n, key, std::string("expected a string such as \"") + example + "\"");
		uint64_t value = 0;
		if (std::string err = parse(n->as_string()->get(), value); !err.empty())
			return fail(*n, key, err);
		out = static_cast<T>(value);
		return true;
	}

	[[nodiscard]] bool time(const toml::table &t, std::string_view key, uint64_t &out)
	{
		return unit(t, key, out, aqm::parse_time_ns, "20ms");
	}

	[[nodiscard]] bool integer(const toml::table &t, std::string_view key, uint32_t &out, int64_t lo, int64_t hi)
	{
		const toml::node *n = t.get(key);
		if (!n)
			return true;
		if (!n->is_integer())
			return fail(*n, key, "expected an integer");
		const int64_t v = n->as_integer()->get();
		if (v < lo || v > hi)
			return fail(*n, key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
		out = static_cast<uint32_t>(v);
		return true;
	}

	// A number, integer or float, as a double: at names the node it came
	// from, null when the key is absent (out untouched). Range checks are
	// the caller's, with at for their error.
	[[nodiscard]] bool number(const toml::table &t, std::string_view key, double &out, const toml::node *&at)
	{
		at = t.get(key);
		if (!at)
			return true;
		if (at->is_integer())
			out = static_cast<double>(at->as_integer()->get());
		else if (at->is_floating_point())
			out = at->as_floating_point()->get();
		else
			return fail(*at, key, "expected a number");
		return true;
	}

	[[nodiscard]] bool boolean(const toml::table &t, std::string_view key, bool &out)
	{
		const toml::node *n = t.get(key);
		if (!n)
			return true;
		if (!n->is_boolean())
			return fail(*n, key, "expected true or false");
		out = n->as_boolean()->get();
		return true;
	}

	// A table of one AQM's parameters ([bottleneck.dualpi2], [ports.pie]):
	// any scalar value, kept as the text tc would read, then checked by
	// building the AQM so a typo is reported with its line.
	[[nodiscard]] bool aqm_settings(const toml::node &node, std::string_view name, std::vector<aqm::Setting> &out)
	{
		const toml::table *t = node.as_table();
		if (!t)
			return fail(node, name, "expected a table of " + std::string(name) + " parameters");
		for (const auto &[key, value] : *t) {
			std::string text;
			if (value.is_string())
				text = value.as_string()->get();
			else if (value.is_integer())
				text = std::to_string(value.as_integer()->get());
			else if (value.is_floating_point())
				text = std::to_string(value.as_floating_point()->get());
			else if (value.is_boolean())
				text = value.as_boolean()->get() ? "true" : "false";
			else
				return fail(value, key.str(), "expected a string, number or boolean");
			out.push_back({std::string(key.str()), text});
		}
		// make_aqm's errors name the AQM and the key themselves ("dualpi2:
		// target: not a time ..."): reported once, at the key's line where
		// they name one, with no second "dualpi2: " before them.
		if (auto built = aqm::make_aqm(name, out); !built.error.empty()) {
			const toml::node *at = &node;
			for (const auto &[key, value] : *t)
				if (built.error.starts_with(std::string(name) + ": " + std::string(key.str()) + ":"))
					at = &value;
			if (error.empty())
				error = origin + ":" + std::to_string(at->source().begin.line) + ": " + built.error;
			return false;
		}
		return true;
	}
};

// Parses a TOML document; a syntax error comes back as "origin:line: what".
[[nodiscard]] inline std::string parse_toml(std::string_view text, const std::string &origin, toml::table &out)
{
	try {
		out = toml::parse(text, origin);
	} catch (const toml::parse_error &e) {
		return origin + ":" + std::to_string(e.source().begin.line) + ": " + std::string(e.description());
	}
	return {};
}

// The whole of a file; what names it in the error ("config file").
[[nodiscard]] inline std::string read_file(const std::string &path, const char *what, std::string &out)
{
	std::ifstream in(path, std::ios::binary);
	if (!in)
		return path + ": cannot open " + what;
	std::stringstream buf;
	buf << in.rdbuf();
	out = buf.str();
	return {};
}

} // namespace dualpilot::common
