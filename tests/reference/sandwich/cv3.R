# CV3 references for tests/test_inference.py: sandwich::vcovCL(type = "HC3", cadjust = FALSE) and
# clubSandwich::vcovCR(type = "CR3") on the designs written by designs.py.
# Usage: Rscript tests/reference/sandwich/cv3.R <designs.csv> > tests/reference/sandwich/cv3.txt
# The city effects (nested in city and in province clusters) are partialled out by city means and
# the year effects enter as dummies (also city-demeaned), as MacKinnon, Nielsen and Webb (2023)
# require for the jackknife; no intercept.
suppressPackageStartupMessages({library(sandwich); library(clubSandwich)})
args <- commandArgs(trailingOnly = TRUE)
designs <- read.csv(args[1], stringsAsFactors = FALSE)
controls <- c("Ur", "Stru", "lnexpense", "lnper_gdp")
cat("# R", R.version$major, ".", R.version$minor, " sandwich ", format(packageVersion("sandwich")),
    " clubSandwich ", format(packageVersion("clubSandwich")), "\n", sep = "")
cat("case\tclustering\tterm\tnobs\tnclusters\testimate\tse_hc3\tse_cr3\n")
for (case in unique(designs$case)) {
  d <- designs[designs$case == case, ]
  term <- d$term[1]
  years <- model.matrix(~ factor(year), d)[, -1, drop = FALSE]
  raw <- cbind(Dist = d$Dist, as.matrix(d[, c(term, controls)]), years)
  demeaned <- apply(raw, 2, function(v) v - ave(v, d$city_code))
  y <- demeaned[, 1]
  x <- demeaned[, -1, drop = FALSE]
  fit <- lm(y ~ 0 + x)
  for (clustering in c("city_code", "province")) {
    groups <- d[[clustering]]
    if (length(unique(groups)) < 2) next
    hc3 <- vcovCL(fit, cluster = groups, type = "HC3", cadjust = FALSE)
    cr3 <- as.matrix(vcovCR(fit, cluster = groups, type = "CR3"))
    for (j in seq_len(1 + length(controls))) {
      cat(case, "\t", clustering, "\t", colnames(raw)[j + 1], "\t", nrow(d), "\t", length(unique(groups)), "\t",
          sprintf("%.15e", coef(fit)[j]), "\t", sprintf("%.15e", sqrt(hc3[j, j])), "\t",
          sprintf("%.15e", sqrt(cr3[j, j])), "\n", sep = "")
    }
  }
}
