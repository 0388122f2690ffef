#include "adm/res_config.h"

#include <gtest/gtest.h>

namespace tandem::adm {
namespace {
TEST(ResConfig, Placeholder) { EXPECT_TRUE(ParseResString("", "x.res").ok()); }
}  // namespace
}  // namespace tandem::adm
