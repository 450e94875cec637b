// The catalogue (catalog.h) is consistent with the registries it describes: what the
// scenarios report is catalogued with the unit they give, and the portable form carries
// nothing that depends on the machine.
#include "catalog.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "plan.h"
#include "scenario.h"
#include "switchyard/variants.h"

namespace sy::harness {
namespace {

using nlohmann::json;

TEST(Catalog, MetricNamesAreUniqueWithKnownUnitsAndLabels) {
  std::set<std::string_view> names, unit_names;
  for (const UnitInfo& u : units()) EXPECT_TRUE(unit_names.insert(u.name).second) << u.name;
  for (const MetricInfo& m : metrics()) {
    EXPECT_TRUE(names.insert(m.name).second) << m.name << " listed twice";
    EXPECT_TRUE(unit_names.count(m.unit)) << m.name << ": unit " << m.unit << " not in units()";
    EXPECT_FALSE(m.label.empty()) << m.name;
  }
}

TEST(Catalog, EveryBenchmarkCounterIsACataloguedMetricWithItsUnit) {
  for (const scenarios::Scenario* sc : scenarios::all()) {
    if (!sc->gbench) continue;
    const MetricInfo* m = find_metric(sc->gbench->counter);
    ASSERT_NE(m, nullptr) << sc->name << ": " << sc->gbench->counter << " is not in catalog.cpp";
    EXPECT_EQ(m->unit, sc->gbench->unit) << sc->name;
    EXPECT_FALSE(m->derived) << sc->name;
  }
  // The instruction counts the harness writes itself.
  ASSERT_NE(find_metric("instructions_per_op"), nullptr);
  EXPECT_EQ(find_metric("instructions_per_op")->unit, "instructions");
}

TEST(Catalog, VariantsDimensionsAndScenariosAreTheRegistries) {
  const json c = catalog_json(false);
  EXPECT_EQ(c["catalog_version"], kCatalogVersion);
  ASSERT_EQ(c["variants"].size(), sy::variants().size());
  for (std::size_t i = 0; i < sy::variants().size(); ++i) {
    const auto& v = sy::variants()[i];
    EXPECT_EQ(c["variants"][i]["name"], v.name);
    EXPECT_EQ(c["variants"][i]["dimensions"],
              (json{{"switch", v.switch_name}, {"stacks", v.stacks}, {"scheduler", v.scheduler}}));
    for (const json& d : c["dimensions"]) {  // each variant's choice is among its dimension's
      const json& mine = c["variants"][i]["dimensions"][d["name"].get<std::string>()];
      EXPECT_NE(std::find(d["choices"].begin(), d["choices"].end(), mine), d["choices"].end());
    }
  }
  ASSERT_EQ(c["scenarios"].size(), scenarios::all().size());
  for (std::size_t i = 0; i < scenarios::all().size(); ++i) {
    const scenarios::Scenario& sc = *scenarios::all()[i];
    EXPECT_EQ(c["scenarios"][i]["name"], sc.name);
    ASSERT_EQ(c["scenarios"][i]["params"].size(), sc.params.size());
    for (std::size_t k = 0; k < sc.params.size(); ++k) EXPECT_EQ(c["scenarios"][i]["params"][k]["default"], sc.params[k].def);
  }
}

TEST(Catalog, PeersAvailabilityOnlyWhenAskedFor) {
  const json portable = catalog_json(false), here = catalog_json(true);
  ASSERT_EQ(portable["peers"].size(), peers().size());
  for (std::size_t i = 0; i < peers().size(); ++i) {
    EXPECT_EQ(portable["peers"][i], (json{{"name", peers()[i].name}, {"note", peers()[i].note}}));
    const json& p = here["peers"][i];
    EXPECT_TRUE(p["available"].is_boolean());
    // Our programs are built or not; a system program (nginx) has no "built".
    EXPECT_EQ(p["built"].is_null(), peers()[i].binary.empty() && peers()[i].server.empty()) << p;
  }
}

}  // namespace
}  // namespace sy::harness
