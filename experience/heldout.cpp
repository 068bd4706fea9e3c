#include "experience/heldout.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>

#include "common/read_file.hpp"

namespace dualpilot::experience {

std::string heldout_pool_refusal(const std::string &path)
{
	const std::filesystem::path p(path);
	for (const auto &part : p)
		if (part.string().find(kHeldoutPrefix) != std::string::npos)
			return path + ": names a held-out scenario (" + part.string() +
			       "): held-out scenarios are never trained on (configs/heldout/)";
	// A run directory: seed-N/pool.dpp beside seed-N/summary.json.
	std::string text;
	if (!common::read_file((p.parent_path() / "summary.json").string(), text))
		return {};
	const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
	if (j.is_object() && j.contains("scenario") && j["scenario"].is_string() &&
	    is_heldout_name(j["scenario"].get<std::string>()))
		return path + ": recorded on held-out scenario '" + j["scenario"].get<std::string>() +
		       "' (its summary.json): held-out scenarios are never trained on";
	return {};
}

} // namespace dualpilot::experience
