#include "server/fleet/labels.h"

#include <gtest/gtest.h>

namespace tinyfleet::fleet {
namespace {

using Op = store::LabelRequirement::Op;

TEST(LabelsTest, ParsesEveryTermKind) {
  auto sel = ParseSelector(" site=lab , ring!=canary,gpu ");
  ASSERT_TRUE(sel.ok()) << sel.status().ToString();
  ASSERT_EQ(sel->size(), 3u);
  EXPECT_EQ((*sel)[0].op, Op::kEquals);
  EXPECT_EQ((*sel)[0].key, "site");
  EXPECT_EQ((*sel)[0].value, "lab");
  EXPECT_EQ((*sel)[1].op, Op::kNotEquals);
  EXPECT_EQ((*sel)[2].op, Op::kExists);
  EXPECT_TRUE(ParseSelector("")->empty());
  EXPECT_TRUE(Matches(*sel, {{"site", "lab"}, {"gpu", "yes"}}));
  EXPECT_FALSE(
      Matches(*sel, {{"site", "lab"}, {"gpu", "1"}, {"ring", "canary"}}));
  EXPECT_FALSE(Matches(*sel, {{"site", "lab"}}));
}

TEST(LabelsTest, RejectsMalformedSelectorsAndLabels) {
  for (const char* bad :
       {"a=b,", ",a", "=x", "Site=lab", "a b=c", "k=v v",
        "k="
        "0123456789012345678901234567890123456789012345678901234567890123"}) {
    auto sel = ParseSelector(bad);
    EXPECT_FALSE(sel.ok()) << bad;
    if (!sel.ok()) {
      EXPECT_EQ(sel.status().code(), StatusCode::kInvalidArgument);
    }
  }
  std::string many;
  for (int i = 0; i < 17; ++i) {
    if (i) many.push_back(',');
    many.push_back('k');
    many.append(std::to_string(i));
  }
  EXPECT_FALSE(ParseSelector(many).ok());
  EXPECT_TRUE(ValidateLabels({{"a.b/c-d_e", "X:1.2-3"}}).ok());
  EXPECT_FALSE(ValidateLabels({{"", "x"}}).ok());
  EXPECT_FALSE(ValidateLabels({{"-a", "x"}}).ok());
  EXPECT_FALSE(ValidateLabels({{"a", "x y"}}).ok());
}

}  // namespace
}  // namespace tinyfleet::fleet
