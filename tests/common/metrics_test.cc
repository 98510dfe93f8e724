#include "common/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "common/metrics_server.h"
#include "gtest/gtest.h"

namespace provledger::metrics {
namespace {

TEST(MetricsTest, CounterAndGaugeRenderWithHelpAndType) {
  Registry r;
  Counter& c = r.AddCounter("x_events_total", "Events seen.");
  c.Inc();
  c.Inc(4);
  Gauge& g = r.AddGauge("x_depth", "Depth now.");
  g.Set(2.5);
  g.Add(-1);
  EXPECT_EQ(r.Render(),
            "# HELP x_depth Depth now.\n"
            "# TYPE x_depth gauge\n"
            "x_depth 1.5\n"
            "# HELP x_events_total Events seen.\n"
            "# TYPE x_events_total counter\n"
            "x_events_total 5\n");
}

TEST(MetricsTest, SameRegistrationReturnsSameMetric) {
  Registry r;
  Counter& a = r.AddCounter("x_total", "h");
  Counter& b = r.AddCounter("x_total", "h");
  EXPECT_EQ(&a, &b);
  auto& f = r.AddCounterFamily("y_total", "h", {"code"});
  EXPECT_EQ(&f.With({"A"}), &r.AddCounterFamily("y_total", "h", {"code"}).With({"A"}));
}

TEST(MetricsTest, LabelsAreEscapedAndSorted) {
  Registry r;
  auto& f = r.AddCounterFamily("x_refusals_total", "Refusals\\by code\nper kind.", {"code", "k"});
  f.With({"b\"q", "new\nline"}).Inc();
  f.With({"a\\b", "z"}).Inc(2);
  EXPECT_EQ(r.Render(),
            "# HELP x_refusals_total Refusals\\\\by code\\nper kind.\n"
            "# TYPE x_refusals_total counter\n"
            "x_refusals_total{code=\"a\\\\b\",k=\"z\"} 2\n"
            "x_refusals_total{code=\"b\\\"q\",k=\"new\\nline\"} 1\n");
}

TEST(MetricsTest, AHelpTextKeepsItsQuotesALabelValueEscapesThem) {
  EXPECT_EQ(EscapeHelp("say \"hi\"\\n\n"), "say \"hi\"\\\\n\\n");
  EXPECT_EQ(EscapeLabelValue("say \"hi\"\\n\n"), "say \\\"hi\\\"\\\\n\\n");
}

TEST(MetricsTest, HistogramBucketsAreCumulativeAndInfEqualsCount) {
  Registry r;
  Histogram& h = r.AddHistogram("x_latency_seconds", "Latency.", {0.5, 1, 10});
  h.Observe(0.25);
  h.Observe(0.5);  // le is "less than or equal"
  h.Observe(5);
  h.Observe(100);
  EXPECT_EQ(r.Render(),
            "# HELP x_latency_seconds Latency.\n"
            "# TYPE x_latency_seconds histogram\n"
            "x_latency_seconds_bucket{le=\"0.5\"} 2\n"
            "x_latency_seconds_bucket{le=\"1\"} 2\n"
            "x_latency_seconds_bucket{le=\"10\"} 3\n"
            "x_latency_seconds_bucket{le=\"+Inf\"} 4\n"
            "x_latency_seconds_sum 105.75\n"
            "x_latency_seconds_count 4\n");
}

TEST(MetricsTest, LabelledHistogramPutsLeLast) {
  Registry r;
  r.AddHistogramFamily("x_seconds", "h", {"op"}, {1}).With({"get"}).Observe(2);
  const std::string out = r.Render();
  EXPECT_NE(out.find("x_seconds_bucket{op=\"get\",le=\"1\"} 0\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_bucket{op=\"get\",le=\"+Inf\"} 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_count{op=\"get\"} 1\n"), std::string::npos) << out;
}

TEST(MetricsTest, CallbacksAreReadAtScrapeAndCanBeReplacedAndRemoved) {
  Registry r;
  double height = 7;
  r.AddCallback("x_height", "Height.", MetricType::kGauge, [&] { return height; });
  r.AddCallback("x_peer_lag", "Lag.", MetricType::kGauge, {"peer"}, [](SampleSink& s) {
    s.Add({"v2"}, 3);
    s.Add({"v1"}, 0);
  });
  height = 9;
  std::string out = r.Render();
  EXPECT_NE(out.find("x_height 9\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_peer_lag{peer=\"v1\"} 0\nx_peer_lag{peer=\"v2\"} 3\n"), std::string::npos)
      << out;
  r.AddCallback("x_height", "Height.", MetricType::kGauge, [] { return 11.0; });
  EXPECT_NE(r.Render().find("x_height 11\n"), std::string::npos);
  r.RemoveCallback("x_height");
  EXPECT_EQ(r.Render().find("x_height"), std::string::npos);
}

TEST(MetricsTest, ScopedCallbacksGoWithTheirScope) {
  Registry r;
  {
    ScopedCallbacks cb(&r);
    cb.Add("x_a", "a", MetricType::kGauge, [] { return 1.0; });
    cb.Add("x_b_total", "b", MetricType::kCounter, {"k"}, [](SampleSink& s) { s.Add({"v"}, 2); });
    const std::string out = r.Render();
    EXPECT_NE(out.find("# TYPE x_b_total counter\nx_b_total{k=\"v\"} 2\n"), std::string::npos)
        << out;
  }
  EXPECT_EQ(r.Render(), "");
}

TEST(MetricsTest, FormatsSpecialValues) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(12345678901.0), "12345678901");
  EXPECT_EQ(FormatValue(0.25), "0.25");
  EXPECT_EQ(FormatValue(1.0 / 0.0), "+Inf");
  EXPECT_EQ(FormatValue(-1.0 / 0.0), "-Inf");
  EXPECT_EQ(FormatValue(0.0 / 0.0), "NaN");
}

TEST(MetricsTest, ValidatesNames) {
  EXPECT_TRUE(ValidMetricName("provledger_node_height"));
  EXPECT_TRUE(ValidMetricName("a:b_c9"));
  EXPECT_FALSE(ValidMetricName("9abc"));
  EXPECT_FALSE(ValidMetricName("a-b"));
  EXPECT_FALSE(ValidMetricName(""));
  EXPECT_TRUE(ValidLabelName("code"));
  EXPECT_FALSE(ValidLabelName("__name"));
  EXPECT_FALSE(ValidLabelName("a:b"));
}

TEST(MetricsDeathTest, ConflictingRegistrationAborts) {
  Registry r;
  r.AddCounter("x_total", "h");
  EXPECT_DEATH(r.AddGauge("x_total", "h"), "registered twice");
  EXPECT_DEATH(r.AddCounter("bad-name", "h"), "invalid metric name");
  EXPECT_DEATH(r.AddHistogramFamily("x_h", "h", {"le"}, {1}), "invalid label name");
  EXPECT_DEATH(r.AddHistogram("x_h2", "h", {2, 1}), "ascending");
  EXPECT_DEATH(r.AddCounterFamily("x_f", "h", {"a"}).With({"1", "2"}), "label values");
}

TEST(MetricsTest, ConcurrentUpdatesAreAllCounted) {
  Registry r;
  Counter& c = r.AddCounter("x_total", "h");
  Histogram& h = r.AddHistogram("x_seconds", "h", {0.5});
  auto& fam = r.AddCounterFamily("x_by_total", "h", {"t"});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10000; ++i) {
        c.Inc();
        h.Observe(i % 2 == 0 ? 0.25 : 1.0);
        fam.With({std::to_string(t % 2)}).Inc();
        if (i % 1000 == 0) (void)r.Render();  // scrapes while updating
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(c.value(), 40000u);
  const Histogram::Snapshot s = h.Snap();
  EXPECT_EQ(s.count, 40000u);
  EXPECT_EQ(s.cumulative[0], 20000u);
  EXPECT_DOUBLE_EQ(s.sum, 20000 * 0.25 + 20000 * 1.0);
  EXPECT_EQ(fam.With({"0"}).value() + fam.With({"1"}).value(), 40000u);
}

// A raw HTTP/1.0 GET of `path` on 127.0.0.1:`port`: the whole answer, headers included.
std::string HttpGet(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return "";
  }
  const std::string req = "GET " + path + " HTTP/1.0\r\nHost: x\r\n\r\n";
  (void)!::write(fd, req.data(), req.size());
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

TEST(MetricsServerTest, ServesTheRegistryAtMetrics) {
  Registry r;
  r.AddCounter("x_total", "h").Inc(3);
  auto server = MetricsServer::Start("127.0.0.1:0", &r);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  ASSERT_GT((*server)->port(), 0);
  const std::string got = HttpGet((*server)->port(), "/metrics");
  EXPECT_NE(got.find("200 OK"), std::string::npos) << got;
  EXPECT_NE(got.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << got;
  EXPECT_NE(got.find("\r\n\r\n# HELP x_total h\n# TYPE x_total counter\nx_total 3\n"),
            std::string::npos)
      << got;
  EXPECT_NE(HttpGet((*server)->port(), "/other").find("404"), std::string::npos);
}

TEST(MetricsServerTest, APortInUseIsRefused) {
  Registry r;
  auto first = MetricsServer::Start("127.0.0.1:0", &r);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto second = MetricsServer::Start("127.0.0.1:" + std::to_string((*first)->port()), &r);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(second.status().message(), "address in use");
}

TEST(MetricsServerTest, RefusesMalformedAddresses) {
  Registry r;
  EXPECT_EQ(MetricsServer::Start("127.0.0.1", &r).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(MetricsServer::Start("127.0.0.1:99999", &r).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(MetricsServer::Start("no.such.host.invalid:9100", &r).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(MetricsServerTest, ResolvesLocalhost) {
  Registry r;
  auto server = MetricsServer::Start("localhost:0", &r);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
}

}  // namespace
}  // namespace provledger::metrics
