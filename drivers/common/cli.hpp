// drivers/common/cli.hpp — every driver's command line: INI config + --section.key=value overrides.
//
//   ibq::cli::Options opt("ibq-train-classifier", "Trains the Fashion-MNIST CNN.");
//   opt.add<int>("train.epochs", 4, "passes over the training set");
//   auto args = opt.parse(argc, argv);          // --config FILE, --help, overrides; throws cli::Exit
//   int epochs = args.get<int>("train.epochs");
//   std::string resolved = args.resolved_ini(); // stored inside every file the driver writes
//
// Precedence: command line > --config file > built-in default. Unknown keys in either place are errors
// that name the key, so a typo never silently trains the wrong model.
#pragma once

#include <boost/program_options.hpp>

#include <functional>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>

namespace ibq::cli {

namespace po = boost::program_options;

// Thrown to end the program early with a status (0 after --help, 2 for usage errors).
struct Exit {
  int status;
};

class Args {
 public:
  Args(po::variables_map vm, std::map<std::string, std::string> text, std::string config_path)
      : vm_(std::move(vm)), text_(std::move(text)), config_path_(std::move(config_path)) {}
  template <class T>
  T get(const std::string& key) const {
    return vm_.at(key).as<T>();
  }
  const std::string& config_path() const { return config_path_; }
  // The full configuration after defaults, file and overrides, as an INI document.
  std::string resolved_ini() const {
    std::map<std::string, std::map<std::string, std::string>> sections;
    for (const auto& [key, value] : text_) {
      const auto dot = key.find('.');
      sections[key.substr(0, dot)][key.substr(dot + 1)] = value;
    }
    std::ostringstream out;
    for (const auto& [section, kv] : sections) {
      out << "[" << section << "]\n";
      for (const auto& [k, v] : kv) out << k << " = " << v << "\n";
    }
    return out.str();
  }

 private:
  po::variables_map vm_;
  std::map<std::string, std::string> text_;
  std::string config_path_;
};

class Options {
 public:
  Options(std::string program, std::string summary)
      : program_(std::move(program)), summary_(std::move(summary)), desc_("Options (INI key = --section.key)") {}

  template <class T>
  Options& add(const std::string& key, const T& def, const std::string& help) {
    require_section(key);
    std::ostringstream d;
    d << def;
    defaults_[key] = d.str();
    desc_.add_options()(key.c_str(), po::value<T>()->default_value(def, d.str()), help.c_str());
    printers_[key] = [](const po::variable_value& v) {
      std::ostringstream o;
      o << v.as<T>();
      return o.str();
    };
    return *this;
  }

  Args parse(int argc, const char* const* argv) const {
    po::options_description generic("Generic");
    generic.add_options()("help,h", "print this help with every option's default and exit")(
        "config", po::value<std::string>(), "INI file (sections [a] with keys b give options --a.b)");
    po::options_description all;
    all.add(generic).add(desc_);
    po::variables_map vm;
    std::string config;
    try {
      // No prefix guessing: '--train.epoch' must not silently mean '--train.epochs'.
      const int style = po::command_line_style::default_style & ~po::command_line_style::allow_guessing;
      po::store(po::command_line_parser(argc, argv).options(all).style(style).run(), vm);  // stored first: wins
      if (vm.count("help")) {
        std::cout << program_ << ": " << summary_ << "\n\nUsage: " << program_
                  << " [--config experiments/NAME.ini] [--section.key=value ...]\n\n"
                  << generic << "\n"
                  << desc_ << "\n";
        throw Exit{0};
      }
      if (vm.count("config")) {
        config = vm["config"].as<std::string>();
        std::ifstream in(config);
        if (!in) fail("cannot read config file '" + config + "' (check the path; configs live in experiments/)");
        po::store(po::parse_config_file(in, desc_, /*allow_unregistered=*/false), vm);
      }
      po::notify(vm);
    } catch (const po::error& e) {
      fail(std::string(e.what()) + (config.empty() ? "" : " (config file '" + config + "')") +
           "; run with --help for the list of options");
    }
    return finish(vm, config);
  }

  // Reads a configuration stored as text (the resolved INI inside a checkpoint) with these options'
  // defaults for keys it lacks. `origin` names the text in errors.
  Args parse_text(const std::string& ini, const std::string& origin) const {
    po::variables_map vm;
    try {
      std::istringstream in(ini);
      po::store(po::parse_config_file(in, desc_, /*allow_unregistered=*/true), vm);
      po::notify(vm);
    } catch (const po::error& e) {
      fail(std::string(e.what()) + " (configuration stored in " + origin + ")");
    }
    return finish(vm, origin);
  }

 private:
  Args finish(const po::variables_map& vm, const std::string& origin) const {
    std::map<std::string, std::string> text;
    for (const auto& [key, printer] : printers_) text[key] = printer(vm[key]);
    return Args(vm, text, origin);
  }
  static void require_section(const std::string& key) {
    if (key.find('.') == std::string::npos || key.front() == '.' || key.back() == '.')
      throw std::logic_error("cli option '" + key + "' must be 'section.key'");
  }
  [[noreturn]] void fail(const std::string& msg) const {
    std::cerr << program_ << ": error: " << msg << "\n";
    throw Exit{2};
  }

  std::string program_, summary_;
  po::options_description desc_;
  std::map<std::string, std::string> defaults_;
  std::map<std::string, std::string (*)(const po::variable_value&)> printers_;
};

// A number as a person writes it: 0.1, 2e-05, 600 (shortest round-trip form, no trailing zeros).
inline std::string format_number(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

}  // namespace ibq::cli
