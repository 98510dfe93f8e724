// StartRefresher: a Worker that keeps a view of the ledger fresh by calling `refresh` every
// `period_ms`. A run of failures logs `<what>_refresh_failed` once (with the first error) and
// `<what>_refresh_recovered` when a call succeeds again, so an outage of the ledger costs two
// log lines, not one a period.
//
// Thread rules: `refresh` runs on the worker's thread; destroy the Worker to stop it.
#ifndef PROVLEDGER_COMMON_REFRESHER_H_
#define PROVLEDGER_COMMON_REFRESHER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "common/log.h"
#include "common/status.h"
#include "common/worker.h"

namespace provledger {

// `at_once`: the first call right away, else after one period (the caller refreshed already).
inline std::unique_ptr<Worker> StartRefresher(const std::string& what, uint32_t period_ms,
                                              bool at_once, std::function<Status()> refresh) {
  return std::make_unique<Worker>(
      what, [what, period_ms, at_once, refresh = std::move(refresh)](Worker& w) {
        bool failing = false;
        if (!at_once) w.Sleep(period_ms);
        while (!w.stopping()) {
          Status s = refresh();
          if (!s.ok() && !failing) LogWarn(what + "_refresh_failed").Kv("err", s.ToString());
          if (s.ok() && failing) LogInfo(what + "_refresh_recovered");
          failing = !s.ok();
          w.Sleep(period_ms);
        }
      });
}

}  // namespace provledger

#endif  // PROVLEDGER_COMMON_REFRESHER_H_
