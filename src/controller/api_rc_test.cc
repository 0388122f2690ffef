// ret_code composition and HTTP status mapping, checked against values that
// LINSTOR clients are known to see (reference/linstor-api.md §1.4).
#include "controller/api_rc.h"

#include <gtest/gtest.h>

namespace tandem::controller::rc {
namespace {

TEST(ApiRcTest, SuccessCodesMatchLinstor) {
  EXPECT_EQ(Success(kMaskCrt, kMaskNode, kCreated, "").ret_code, 20709377);
  EXPECT_EQ(Success(kMaskCrt, kMaskRscDfn, kCreated, "").ret_code, 20447233);
  EXPECT_EQ(Success(kMaskCrt, kMaskRsc, kCreated, "").ret_code, 20185089);
  EXPECT_EQ(Success(kMaskCrt, kMaskVlmDfn, kCreated, "").ret_code, 19922945);
  EXPECT_EQ(Success(kMaskCrt, kMaskStorPool, kCreated, "").ret_code, 18087937);
  EXPECT_EQ(Success(kMaskCrt, kMaskRscGrp, kCreated, "").ret_code, 21233665);
  EXPECT_EQ(Success(kMaskDel, kMaskRscDfn, kDeleted, "").ret_code, 54001666);
  EXPECT_EQ(Success(kMaskMod, kMaskRscDfn, kModified, "").ret_code, 37224451);
}

TEST(ApiRcTest, ErrorAndWarningCodesAreNegative) {
  EXPECT_EQ(Error(kMaskCrt, kMaskRsc, kFailNotFoundRscDfn, "").ret_code, -4611686018407202515);
  EXPECT_EQ(Error(kMaskCrt, kMaskRsc, kFailExistsRsc, "").ret_code, -4611686018407202314);
  EXPECT_EQ(Error(0, 0, kFailNotFoundNode, "").ret_code, -4611686018427387604);
  EXPECT_EQ(Warn(kMaskCrt, kMaskRsc, kWarnNotConnected, "").ret_code, -9223372036834589718);
  EXPECT_TRUE(Error(0, 0, kFailInUse, "").is_error());
  EXPECT_FALSE(Warn(0, 0, kWarnNotFound, "").is_error());
  EXPECT_FALSE(Info(0, 0, kInfoPropSet, "").is_error());
}

TEST(ApiRcTest, HttpStatusFollowsFirstError) {
  EXPECT_EQ(HttpStatusFor({Success(kMaskCrt, kMaskNode, kCreated, "")}, 201), 201);
  EXPECT_EQ(HttpStatusFor({Warn(kMaskCrt, kMaskNode, kWarnNotConnected, "")}, 201), 201);
  EXPECT_EQ(HttpStatusFor({Error(kMaskCrt, kMaskRsc, kFailNotFoundRscDfn, "")}, 201), 404);
  EXPECT_EQ(HttpStatusFor({Error(kMaskCrt, kMaskRsc, 401, "")}, 201), 403);
  EXPECT_EQ(HttpStatusFor({Error(kMaskCrt, kMaskNode, kFailExistsNode, "")}, 201), 500);
  ApiCallRc parse;
  parse.ret_code = static_cast<int64_t>(kApiCallParseError);
  EXPECT_EQ(HttpStatusFor({parse}, 200), 400);
  EXPECT_EQ(HttpStatusFor({Info(0, 0, kInfoPropSet, ""), Error(0, 0, kFailNotFoundNode, "")}, 200),
            404);
}

}  // namespace
}  // namespace tandem::controller::rc
