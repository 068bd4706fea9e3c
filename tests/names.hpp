// What the tests hold an error or warning to: that it names what was wrong
// (the key, the port, the file, the parameter), not its wording, so that a
// message can be reworded without a test changing.
#pragma once

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <string_view>

namespace dualpilot::dataplane::testing {

// EXPECT_TRUE(names(err, {"port 'east'", "limit"})): err names each of them.
inline ::testing::AssertionResult names(const std::string &message, std::initializer_list<std::string_view> what)
{
	for (std::string_view w : what)
		if (message.find(w) == std::string::npos)
			return ::testing::AssertionFailure() << "\"" << message << "\" does not name " << w;
	return ::testing::AssertionSuccess();
}

} // namespace dualpilot::dataplane::testing
