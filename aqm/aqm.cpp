#include "aqm/aqm.hpp"

namespace dualpilot::aqm {

namespace {

// The per-AQM parameter handling, in one table so make_aqm and split_tc_args
// agree on names and flags.
template <typename Params, typename Aqm>
[[nodiscard]]
AqmOrError build(std::span<const Setting> settings, Params params,
		 std::string (*apply)(Params &, std::string_view, std::string_view),
		 std::string (*finalize)(Params &))
{
	AqmOrError result;
	for (const Setting &s : settings) {
		if (auto err = apply(params, s.key, s.value); !err.empty()) {
			result.error = std::move(err);
			return result;
		}
	}
	if (auto err = finalize(params); !err.empty()) {
		result.error = std::move(err);
		return result;
	}
	result.aqm.emplace(std::in_place_type<Aqm>, params);
	return result;
}

bool fifo_is_flag(std::string_view) { return false; }

bool known_name(std::string_view name)
{
	for (std::string_view n : kAqmNames)
		if (n == name)
			return true;
	return false;
}

std::string unknown_aqm(std::string_view name)
{
	return "unknown aqm '" + std::string(name) + "' (known: fifo pie codel dualpi2)";
}

} // namespace

AqmOrError make_aqm(std::string_view name, std::span<const Setting> settings, uint64_t seed)
{
	if (name == "fifo")
		return build<FifoParams, Fifo>(settings, FifoParams{}, fifo_apply, fifo_finalize);
	if (name == "pie") {
		PieParams p;
		p.seed = seed;
		return build<PieParams, Pie>(settings, p, pie_apply, pie_finalize);
	}
	if (name == "codel")
		return build<CodelParams, Codel>(settings, CodelParams{}, codel_apply, codel_finalize);
	if (name == "dualpi2") {
		DualPi2Params p;
		p.seed = seed;
		return build<DualPi2Params, DualPi2>(settings, p, dualpi2_apply, dualpi2_finalize);
	}
	return {{}, unknown_aqm(name)};
}

std::string split_tc_args(std::string_view name, std::string_view args, std::vector<Setting> &out)
{
	if (!known_name(name))
		return unknown_aqm(name);
	bool (*is_flag)(std::string_view) = name == "dualpi2" ? dualpi2_is_flag
					    : name == "pie"   ? pie_is_flag
					    : name == "codel" ? codel_is_flag
							      : fifo_is_flag;
	std::vector<std::string_view> words;
	size_t pos = 0;
	while (pos < args.size()) {
		while (pos < args.size() && (args[pos] == ' ' || args[pos] == '\t'))
			pos++;
		const size_t start = pos;
		while (pos < args.size() && args[pos] != ' ' && args[pos] != '\t')
			pos++;
		if (pos > start)
			words.push_back(args.substr(start, pos - start));
	}
	for (size_t i = 0; i < words.size(); i++) {
		if (is_flag(words[i])) {
			out.push_back({std::string(words[i]), ""});
		} else if (i + 1 < words.size()) {
			out.push_back({std::string(words[i]), std::string(words[i + 1])});
			i++;
		} else {
			return std::string(name) + ": '" + std::string(words[i]) + "' needs a value";
		}
	}
	return {};
}

Setting parse_setting(std::string_view text)
{
	const size_t eq = text.find('=');
	if (eq == std::string_view::npos)
		return {std::string(text), ""};
	return {std::string(text.substr(0, eq)), std::string(text.substr(eq + 1))};
}

} // namespace dualpilot::aqm
