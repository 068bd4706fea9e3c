#include "experience/pool_paths.hpp"

#include <glob.h>

#include <algorithm>
#include <filesystem>
#include <map>

namespace dualpilot::experience {

namespace {

namespace fs = std::filesystem;

bool is_pattern(const std::string &arg) { return arg.find_first_of("*?[") != std::string::npos; }

// A directory's pools: regular files ending .dpp or .json, not hidden, sorted.
std::string directory_pools(const std::string &dir, std::vector<std::string> &out)
{
	std::error_code ec;
	std::vector<std::string> found;
	for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
		const fs::path &p = it->path();
		const std::string name = p.filename().string();
		const std::string ext = p.extension().string();
		if (name.empty() || name[0] == '.' || (ext != ".dpp" && ext != ".json"))
			continue;
		std::error_code type_ec;
		if (fs::is_regular_file(p, type_ec))
			found.push_back(p.string());
	}
	if (ec)
		return dir + ": cannot list the directory: " + ec.message();
	if (found.empty())
		return dir + ": a directory without pool files (*.dpp, *.json)";
	std::sort(found.begin(), found.end());
	out.insert(out.end(), found.begin(), found.end());
	return {};
}

// One path, a match or given as is: a directory's pools, or the file.
std::string one_path(const std::string &path, std::vector<std::string> &out)
{
	std::error_code ec;
	const fs::file_status st = fs::status(path, ec);
	if (ec || !fs::exists(st))
		return path + ": no such file or directory";
	if (fs::is_directory(st))
		return directory_pools(path, out);
	out.push_back(path);
	return {};
}

std::string pattern_paths(const std::string &pattern, std::vector<std::string> &out)
{
	glob_t g{};
	const int rc = ::glob(pattern.c_str(), 0, nullptr, &g);
	if (rc == GLOB_NOMATCH) {
		::globfree(&g);
		return pattern + ": no file matches the pattern";
	}
	if (rc != 0) {
		::globfree(&g);
		return pattern + ": cannot expand the pattern (" + (rc == GLOB_NOSPACE ? "out of memory" : "read error") + ")";
	}
	std::vector<std::string> matches(g.gl_pathv, g.gl_pathv + g.gl_pathc);
	::globfree(&g);
	std::sort(matches.begin(), matches.end());
	for (const std::string &m : matches)
		if (std::string err = one_path(m, out); !err.empty())
			return err;
	return {};
}

} // namespace

std::string expand_pool_paths(const std::vector<std::string> &args, std::vector<std::string> &out)
{
	std::vector<std::string> all;
	std::map<std::string, std::string> named_by; // a file's canonical path -> the argument that named it
	for (const std::string &arg : args) {
		std::vector<std::string> these;
		std::string err = is_pattern(arg) && !fs::exists(arg) ? pattern_paths(arg, these) : one_path(arg, these);
		if (!err.empty())
			return err;
		for (const std::string &p : these) {
			std::error_code ec;
			const fs::path canonical = fs::weakly_canonical(p, ec);
			const std::string key = ec ? p : canonical.string();
			if (auto [it, fresh] = named_by.emplace(key, arg); !fresh)
				return p + ": named twice (by '" + it->second + "' and by '" + arg +
				       "'): its entries would count twice";
		}
		all.insert(all.end(), these.begin(), these.end());
	}
	out.insert(out.end(), all.begin(), all.end());
	return {};
}

} // namespace dualpilot::experience
