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

// The registry: each AQM's name, its bare tc flags and how it is built from
// settings, in the order of kAqmNames. make_aqm and split_tc_args look the
// name up here and nowhere else.
struct AqmKind {
	std::string_view name;
	bool (*is_flag)(std::string_view key);
	AqmOrError (*make)(std::span<const Setting> settings, uint64_t seed);
};

constexpr AqmKind kAqmKinds[] = {
	{"fifo", fifo_is_flag,
	 [](std::span<const Setting> s, uint64_t) {
		 return build<FifoParams, Fifo>(s, FifoParams{}, fifo_apply, fifo_finalize);
	 }},
	{"pie", pie_is_flag,
	 [](std::span<const Setting> s, uint64_t seed) {
		 PieParams p;
		 p.seed = seed;
		 return build<PieParams, Pie>(s, p, pie_apply, pie_finalize);
	 }},
	{"codel", codel_is_flag,
	 [](std::span<const Setting> s, uint64_t) {
		 return build<CodelParams, Codel>(s, CodelParams{}, codel_apply, codel_finalize);
	 }},
	{"dualpi2", dualpi2_is_flag,
	 [](std::span<const Setting> s, uint64_t seed) {
		 DualPi2Params p;
		 p.seed = seed;
		 return build<DualPi2Params, DualPi2>(s, p, dualpi2_apply, dualpi2_finalize);
	 }},
};

constexpr bool registry_matches_names()
{
	if (std::size(kAqmKinds) != std::size(kAqmNames))
		return false;
	for (size_t i = 0; i < std::size(kAqmKinds); i++)
		if (kAqmKinds[i].name != kAqmNames[i])
			return false;
	return true;
}
static_assert(registry_matches_names(), "kAqmKinds and kAqmNames name the same AQMs in the same order");

const AqmKind *find_kind(std::string_view name)
{
	for (const AqmKind &k : kAqmKinds)
		if (k.name == name)
			return &k;
	return nullptr;
}

std::string unknown_aqm(std::string_view name)
{
	std::string known;
	for (std::string_view n : kAqmNames)
		known += (known.empty() ? "" : " ") + std::string(n);
	return "unknown aqm '" + std::string(name) + "' (known: " + known + ")";
}

} // namespace

AqmOrError make_aqm(std::string_view name, std::span<const Setting> settings, uint64_t seed)
{
	const AqmKind *kind = find_kind(name);
	return kind ? kind->make(settings, seed) : AqmOrError{{}, unknown_aqm(name)};
}

std::string split_tc_args(std::string_view name, std::string_view args, std::vector<Setting> &out)
{
	const AqmKind *kind = find_kind(name);
	if (!kind)
		return unknown_aqm(name);
	bool (*is_flag)(std::string_view) = kind->is_flag;
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
