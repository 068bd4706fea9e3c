// Reading checked TOML: every getter names the file, the line and the key
// when a value is missing its mark, and only_keys() refuses keys a table does
// not know. Shared by the simulator's scenarios and the router's config.
#pragma once

#include <toml++/toml.h>

#include <initializer_list>
#include <string>
#include <string_view>

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

	bool fail(const toml::node &node, std::string_view key, const std::string &message)
	{
		if (error.empty())
			error = where(node, key) + message;
		return false;
	}

	// Rejects keys the table does not know, naming the first.
	bool only_keys(const toml::table &table, std::string_view context, std::initializer_list<std::string_view> known)
	{
		for (const auto &[key, node] : table) {
			bool ok = false;
			for (std::string_view k : known)
				ok = ok || k == key.str();
			if (!ok) {
				std::string list;
				for (std::string_view k : known) {
					if (!list.empty())
						list += ' ';
					list += k;
				}
				return fail(node, key.str(), "unknown key in " + std::string(context) + " (known: " + list + ")");
			}
		}
		return true;
	}

	bool text(const toml::table &t, std::string_view key, std::string &out)
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
	bool unit(const toml::table &t, std::string_view key, T &out, Parse parse, const char *example)
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

	bool time(const toml::table &t, std::string_view key, uint64_t &out)
	{
		return unit(t, key, out, aqm::parse_time_ns, "20ms");
	}

	bool integer(const toml::table &t, std::string_view key, uint32_t &out, int64_t lo, int64_t hi)
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

	bool boolean(const toml::table &t, std::string_view key, bool &out)
	{
		const toml::node *n = t.get(key);
		if (!n)
			return true;
		if (!n->is_boolean())
			return fail(*n, key, "expected true or false");
		out = n->as_boolean()->get();
		return true;
	}
};

} // namespace dualpilot::common
