"""Static test of deploy/terraform: every .tf parsed by a real HCL parser.

tests/deploy/hcl2json.mjs parses each file with @cdktf/hcl2json (HashiCorp's
HCL parser compiled to WebAssembly; `make deps` installs it with npm ci) and
prints the trees as JSON. The rule functions below read those trees and
return the problems they find, a sentence each; the tests assert exact
values on the real configuration and that every rule reports a
deliberately bad configuration, so no rule can pass by finding nothing.

The rules: no security group rule admits 0.0.0.0/0 or ::/0, and the only
rules that name them are the hosts' HTTP and HTTPS egress; agents' security
groups have no ingress; a public Function URL has both of its permissions;
provisioned concurrency sits on an alias of a published version; reserved
concurrency is var.reserved_concurrency; everything carries the deployment
tag; both APIs set stage throttling; variables, locals and resources are
declared where used and used where declared; the outputs deploy.sh reads.
The cloud-init templates get every variable they read, and the
controller's, rendered, passes `cloud-init schema`.

What only a real Terraform and AWS can check (provider schemas, plan,
apply) is listed in docs/deploy.md.
"""
import json
import os
import re
import subprocess
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TERRAFORM_DIR = os.path.join(ROOT, "deploy", "terraform")
DEPLOY_TESTS = os.path.join(ROOT, "tests", "deploy")
PARSER = os.path.join(DEPLOY_TESTS, "hcl2json.mjs")
PARSER_PACKAGE = os.path.join(DEPLOY_TESTS, "node_modules", "@cdktf", "hcl2json")
CLOUD_INIT = "/usr/bin/cloud-init"  # Debian's cloud-init (make deps)

WORLD = ("0.0.0.0/0", "::/0")
# Ports the hosts may open connections to anywhere: Debian's mirror, the
# package URL, the image registry and the front doors they burst.
WORLD_EGRESS_PORTS = (80, 443)
DEPLOYMENT_TAG = "stampede:deployment"
DEPLOYMENT = "${var.deployment}"  # the tag's value, as the parser shows it
RULE_TYPES = ("aws_security_group_rule", "aws_vpc_security_group_ingress_rule",
              "aws_vpc_security_group_egress_rule")
REQUIRED_OUTPUTS = {"function_name", "alias_name", "alias_arn", "function_url", "http_api_url",
                    "rest_api_url", "controller_endpoint", "deployment"}
TERRAFORM_FILES = ["agents_ec2.tf", "agents_fargate.tf", "alias.tf", "controller.tf",
                   "function.tf", "function_url.tf", "hosts.tf", "http_api.tf", "outputs.tf",
                   "rest_api.tf", "roles.tf", "security_groups.tf", "variables.tf",
                   "versions.tf"]
# What templatefile() hands the agents' cloud-init template.
AGENT_TEMPLATE_VARS = {"agent_name", "controller_endpoint", "controller_public_key",
                       "max_lifetime_minutes", "package_url", "allowed_targets"}

# A configuration that breaks every rule once.
BAD_TF = r'''
provider "aws" {
  region = "us-east-1"
}

variable "unused" {
  type = string
}

resource "aws_security_group" "agents" {
  name = var.undeclared
  ingress {
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_vpc_security_group_egress_rule" "anything" {
  security_group_id = aws_security_group.agents.id
  ip_protocol       = "-1"
  cidr_ipv6         = "::/0"
}

resource "aws_lambda_function" "f" {
  function_name                  = "f"
  publish                        = false
  reserved_concurrent_executions = 5
  tags                           = { "stampede:deployment" = "other" }
}

resource "aws_lambda_alias" "a" {
  name             = "live"
  function_name    = aws_lambda_function.f.function_name
  function_version = "$LATEST"
}

resource "aws_lambda_provisioned_concurrency_config" "p" {
  function_name                     = aws_lambda_function.f.function_name
  qualifier                         = aws_lambda_alias.a.name
  provisioned_concurrent_executions = 3
}

resource "aws_lambda_function_url" "u" {
  function_name      = aws_lambda_function.f.function_name
  authorization_type = "NONE"
}

resource "aws_lambda_permission" "u" {
  action                 = "lambda:InvokeFunctionUrl"
  function_name          = aws_lambda_function.f.function_name
  principal              = "*"
  function_url_auth_type = "NONE"
}

resource "aws_apigatewayv2_stage" "s" {
  api_id = aws_apigatewayv2_api.missing.id
  name   = "$default"
}

resource "aws_instance" "agent" {
  ami = "ami-1"
}

output "function_url" {
  value = aws_lambda_function_url.u.function_url
}
'''


def parse_dir(path):
    """{file name: parsed tree} of every .tf in path; AssertionError with
    the parser's message when a file does not parse."""
    if not os.path.isdir(PARSER_PACKAGE):
        raise AssertionError("@cdktf/hcl2json is not installed in tests/deploy: run `make deps`")
    proc = subprocess.run(["node", PARSER, path], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise AssertionError("hcl2json.mjs exited %d: %s" % (proc.returncode, proc.stderr.strip()))
    return json.loads(proc.stdout)


def merged(trees):
    """One configuration out of every file's tree: {"resource": {type:
    {name: body}}, "data": likewise, "variable"/"output"/"locals": {name:
    body}, "provider": {name: [body, ...]}}."""
    config = {"resource": {}, "data": {}, "variable": {}, "output": {}, "locals": {},
              "provider": {}}
    for tree in trees.values():
        for kind in ("resource", "data"):
            for rtype, named in tree.get(kind, {}).items():
                for name, bodies in named.items():
                    config[kind].setdefault(rtype, {})[name] = bodies[0]
        for kind in ("variable", "output"):
            for name, bodies in tree.get(kind, {}).items():
                config[kind][name] = bodies[0]
        for entries in tree.get("locals", []):
            config["locals"].update(entries)
        for name, bodies in tree.get("provider", {}).items():
            config["provider"].setdefault(name, []).extend(bodies)
    return config


def strings(value):
    """Every string inside a parsed value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def resources(config, rtype):
    """[(name, body)] of every resource of type rtype."""
    return sorted(config["resource"].get(rtype, {}).items())


def block(body, name):
    """The first nested block `name` of a body, or {}."""
    found = body.get(name) or [{}]
    return found[0]


def group_of(expression):
    """The aws_security_group a reference names, or None."""
    match = re.search(r"aws_security_group\.(\w+)", expression or "")
    return match.group(1) if match else None


def security_rules(config):
    """(where, direction, body, group name) of every security group rule,
    inline blocks and dynamic blocks included."""
    for name, body in resources(config, "aws_security_group"):
        for direction in ("ingress", "egress"):
            for rule in body.get(direction, []):
                yield "aws_security_group.%s" % name, direction, rule, name
            for rule in body.get("dynamic", {}).get(direction, []):
                yield "aws_security_group.%s dynamic" % name, direction, rule, name
    for rtype in RULE_TYPES:
        for name, body in resources(config, rtype):
            if rtype == "aws_security_group_rule":
                direction = body.get("type")
            else:
                direction = "ingress" if rtype.endswith("ingress_rule") else "egress"
            yield "%s.%s" % (rtype, name), direction, body, group_of(body.get("security_group_id"))


def world_open_problems(config):
    """Rules naming the whole Internet, except egress on WORLD_EGRESS_PORTS."""
    problems = []
    for where, direction, rule, _ in security_rules(config):
        world = sorted({w for s in strings(rule) for w in WORLD if w in s})
        if not world:
            continue
        protocol = rule.get("ip_protocol", rule.get("protocol"))
        ports = (rule.get("from_port"), rule.get("to_port"))
        if direction != "egress":
            problems.append("%s: %s from %s" % (where, direction, ", ".join(world)))
        elif protocol != "tcp" or ports[0] != ports[1] or ports[0] not in WORLD_EGRESS_PORTS:
            problems.append("%s: egress to %s on %s %s-%s" % (where, ", ".join(world), protocol,
                                                               ports[0], ports[1]))
    return problems


def agent_ingress_problems(config):
    """Ingress rules on a security group named agent*."""
    return ["%s: ingress on agent security group %s" % (where, group)
            for where, direction, _, group in security_rules(config)
            if direction == "ingress" and (group or "").startswith("agent")]


def function_url_problems(config):
    """Public Function URLs that are not on an alias or lack one of their
    two permissions (InvokeFunctionUrl with auth type NONE, InvokeFunction
    with invoked_via_function_url), on the URL's qualifier."""
    urls = resources(config, "aws_lambda_function_url")
    if not urls:
        return ["no aws_lambda_function_url"]
    problems = []
    permissions = [body for _, body in resources(config, "aws_lambda_permission")]
    for name, url in urls:
        if url.get("authorization_type") != "NONE":
            continue
        qualifier = url.get("qualifier")
        if not re.fullmatch(r"\$\{aws_lambda_alias\.\w+\.name\}", qualifier or ""):
            problems.append("aws_lambda_function_url.%s: not on an alias" % name)
        mine = [p for p in permissions
                if p.get("qualifier") == qualifier and p.get("principal") == "*"]
        if not any(p.get("action") == "lambda:InvokeFunctionUrl"
                   and p.get("function_url_auth_type") == "NONE" for p in mine):
            problems.append("aws_lambda_function_url.%s: no lambda:InvokeFunctionUrl permission "
                            "for * with function_url_auth_type NONE" % name)
        if not any(p.get("action") == "lambda:InvokeFunction"
                   and p.get("invoked_via_function_url") is True for p in mine):
            problems.append("aws_lambda_function_url.%s: no lambda:InvokeFunction permission "
                            "for * with invoked_via_function_url" % name)
    return problems


def provisioned_problems(config):
    """Provisioned concurrency not on an alias of a published version, or
    not driven by var.provisioned_concurrency."""
    configs = resources(config, "aws_lambda_provisioned_concurrency_config")
    if not configs:
        return ["no aws_lambda_provisioned_concurrency_config"]
    problems = []
    for name, body in configs:
        where = "aws_lambda_provisioned_concurrency_config.%s" % name
        match = re.fullmatch(r"\$\{aws_lambda_alias\.(\w+)\.name\}", body.get("qualifier", ""))
        alias_name = match.group(1) if match else None
        alias = config["resource"].get("aws_lambda_alias", {}).get(alias_name)
        if alias is None:
            problems.append("%s: qualifier is not an alias's name" % where)
            continue
        if body.get("function_name") != "${aws_lambda_alias.%s.function_name}" % alias_name:
            problems.append("%s: function_name is not the alias's" % where)
        if body.get("provisioned_concurrent_executions") != "${var.provisioned_concurrency}":
            problems.append("%s: not var.provisioned_concurrency" % where)
        if body.get("count") != "${var.provisioned_concurrency > 0 ? 1 : 0}":
            problems.append("%s: not absent when var.provisioned_concurrency is 0" % where)
        version = re.fullmatch(r"\$\{aws_lambda_function\.(\w+)\.version\}",
                               alias.get("function_version", ""))
        function = config["resource"].get("aws_lambda_function", {}).get(
            version.group(1) if version else None)
        if function is None or function.get("publish") is not True:
            problems.append("aws_lambda_alias.%s: not on a version published by "
                            "aws_lambda_function (publish = true)" % alias_name)
    return problems


def reserved_problems(config):
    """Functions whose reserved concurrency is not var.reserved_concurrency."""
    functions = resources(config, "aws_lambda_function")
    if not functions:
        return ["no aws_lambda_function"]
    return ["aws_lambda_function.%s: reserved_concurrent_executions is not "
            "var.reserved_concurrency" % name for name, body in functions
            if body.get("reserved_concurrent_executions") != "${var.reserved_concurrency}"]


def tag_problems(config):
    """The deployment tag missing from default_tags, overridden, or missing
    where default_tags do not reach (volumes, ECS tasks, launch templates)."""
    problems = []
    providers = config["provider"].get("aws", [])
    if not providers:
        problems.append("no aws provider block")
    for body in providers:
        if block(body, "default_tags").get("tags", {}).get(DEPLOYMENT_TAG) != DEPLOYMENT:
            problems.append("provider aws: default_tags lack %s = var.deployment" % DEPLOYMENT_TAG)
    for rtype, named in sorted(config["resource"].items()):
        for name, body in sorted(named.items()):
            tags = body.get("tags")
            if isinstance(tags, dict) and tags.get(DEPLOYMENT_TAG, DEPLOYMENT) != DEPLOYMENT:
                problems.append("%s.%s: overrides %s" % (rtype, name, DEPLOYMENT_TAG))
    for name, body in resources(config, "aws_instance"):
        if body.get("volume_tags", {}).get(DEPLOYMENT_TAG) != DEPLOYMENT:
            problems.append("aws_instance.%s: volume_tags lack %s" % (name, DEPLOYMENT_TAG))
    for name, body in resources(config, "aws_ecs_service"):
        if body.get("propagate_tags") not in ("SERVICE", "TASK_DEFINITION"):
            problems.append("aws_ecs_service.%s: tasks do not get the tags" % name)
    for name, body in resources(config, "aws_launch_template"):
        for spec in body.get("tag_specifications", []):
            if spec.get("tags", {}).get(DEPLOYMENT_TAG) != DEPLOYMENT:
                problems.append("aws_launch_template.%s: tag_specifications lack %s"
                                % (name, DEPLOYMENT_TAG))
    return problems


def throttling_problems(config):
    """API stages without explicit throttling from the two variables."""
    expected = {"throttling_burst_limit": "${var.api_throttle_burst_limit}",
                "throttling_rate_limit": "${var.api_throttle_rate_limit}"}
    problems = []
    http_stages = resources(config, "aws_apigatewayv2_stage")
    rest_stages = resources(config, "aws_api_gateway_stage")
    if not http_stages:
        problems.append("no aws_apigatewayv2_stage")
    if not rest_stages:
        problems.append("no aws_api_gateway_stage")
    for name, body in http_stages:
        settings = block(body, "default_route_settings")
        if {key: settings.get(key) for key in expected} != expected:
            problems.append("aws_apigatewayv2_stage.%s: default_route_settings throttling not set "
                            "from the variables" % name)
    settings_of = {body.get("stage_name"): body
                   for _, body in resources(config, "aws_api_gateway_method_settings")}
    for name, _ in rest_stages:
        method = settings_of.get("${aws_api_gateway_stage.%s.stage_name}" % name, {})
        settings = block(method, "settings")
        if method.get("method_path") != "*/*" or \
                {key: settings.get(key) for key in expected} != expected:
            problems.append("aws_api_gateway_stage.%s: no method settings */* throttling from the "
                            "variables" % name)
    return problems


def names_used(config, prefix):
    """Names referenced as PREFIX.name anywhere but in variable blocks."""
    used = set()
    for kind in ("resource", "data", "output", "locals", "provider"):
        for text in strings(config[kind]):
            used.update(re.findall(r"(?<![\w.])%s\.([A-Za-z_][\w-]*)" % prefix, text))
    return used


def declaration_problems(config):
    """Variables and locals used but not declared, or declared but unused;
    resources and data sources referenced but not declared."""
    problems = []
    for prefix, kind, noun in (("var", "variable", "variable"), ("local", "locals", "local")):
        declared, used = set(config[kind]), names_used(config, prefix)
        problems += ["%s.%s used but not declared" % (prefix, name)
                     for name in sorted(used - declared)]
        problems += ["%s %s declared but not used" % (noun, name)
                     for name in sorted(declared - used)]
    declared = {"%s.%s" % (rtype, name)
                for rtype, named in config["resource"].items() for name in named}
    declared |= {"data.%s.%s" % (rtype, name)
                 for rtype, named in config["data"].items() for name in named}
    referenced = set()
    for text in strings(config):
        referenced.update(re.findall(r"(?<![\w.])((?:data\.)?(?:aws|time)_\w+\.\w+)", text))
    problems += ["%s referenced but not declared" % ref for ref in sorted(referenced - declared)]
    return problems


def output_problems(config):
    """Outputs deploy.sh reads that are missing."""
    missing = REQUIRED_OUTPUTS - set(config["output"])
    return ["output %s missing" % name for name in sorted(missing)]


RULES = (world_open_problems, agent_ingress_problems, function_url_problems,
         provisioned_problems, reserved_problems, tag_problems, throttling_problems,
         declaration_problems, output_problems)


def templatefile_calls(text):
    """[(template path after ${path.module}/, [variable names])] of the
    templatefile() calls in an expression."""
    calls = []
    pattern = r'templatefile\("\$\{path\.module\}/([^"]+)",\s*\{(.*?)\}\)'
    for match in re.finditer(pattern, text, re.S):
        calls.append((match.group(1), re.findall(r"^\s*(\w+)\s*=", match.group(2), re.M)))
    return calls


TEMPLATE_KEYWORDS = {"for", "in", "if", "else", "endif", "endfor", "true", "false", "null"}


def template_variables(path):
    """Names a Terraform template reads in its ${…} and %{…} sequences:
    identifiers that are not functions, attributes, keywords or its own
    loop variables."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    names, loops = set(), set()
    for expr in re.findall(r"(?<![$%])[$%]\{~?(.*?)~?\}", text):
        expr = re.sub(r'"[^"]*"', "", expr)
        loop = re.match(r"\s*for\s+(\w+)(?:\s*,\s*(\w+))?\s+in\b", expr)
        if loop:
            loops.update(name for name in loop.groups() if name)
        names.update(re.findall(r"(?<![\w.])([A-Za-z_]\w*)\b(?!\s*\()", expr))
    return names - TEMPLATE_KEYWORDS - loops


class TerraformTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.trees = parse_dir(TERRAFORM_DIR)
        cls.config = merged(cls.trees)

    def res(self, rtype, name):
        return self.config["resource"][rtype][name]

    def test_every_file_parses(self):
        self.assertEqual(sorted(self.trees), TERRAFORM_FILES)

    def test_every_rule_holds(self):
        for rule in RULES:
            with self.subTest(rule=rule.__name__):
                self.assertEqual(rule(self.config), [])

    def test_versions_pinned(self):
        terraform = self.trees["versions.tf"]["terraform"][0]
        self.assertEqual(terraform["required_version"], ">= 1.6.0, < 2.0.0")
        self.assertEqual(terraform["required_providers"][0], {
            "aws": {"source": "hashicorp/aws", "version": "~> 6.28"},
            "time": {"source": "hashicorp/time", "version": "~> 0.13"}})
        self.assertEqual(self.config["provider"]["aws"][0]["default_tags"],
                         [{"tags": {DEPLOYMENT_TAG: DEPLOYMENT}}])

    def test_only_web_egress_names_the_world(self):
        world = sorted(where for where, _, rule, _ in security_rules(self.config)
                       if any(w in s for s in strings(rule) for w in WORLD))
        self.assertEqual(world, [
            "aws_vpc_security_group_egress_rule.agents_http",
            "aws_vpc_security_group_egress_rule.agents_https",
            "aws_vpc_security_group_egress_rule.controller_http",
            "aws_vpc_security_group_egress_rule.controller_https"])

    def test_agents_dial_out_only(self):
        agent_rules = sorted((where, direction) for where, direction, _, group
                             in security_rules(self.config) if group == "agents")
        self.assertEqual(agent_rules, [
            ("aws_vpc_security_group_egress_rule.agents_http", "egress"),
            ("aws_vpc_security_group_egress_rule.agents_https", "egress"),
            ("aws_vpc_security_group_egress_rule.agents_to_controller", "egress")])
        to_controller = self.res("aws_vpc_security_group_egress_rule", "agents_to_controller")
        self.assertEqual(to_controller["referenced_security_group_id"],
                         "${aws_security_group.controller[0].id}")
        self.assertEqual(self.res("aws_instance", "agents")["vpc_security_group_ids"],
                         ["${aws_security_group.agents[0].id}"])
        network = self.res("aws_ecs_service", "agents")["network_configuration"][0]
        self.assertEqual(network["security_groups"], ["${aws_security_group.agents[0].id}"])

    def test_controller_ingress_only_from_allowed_cidrs_and_agents(self):
        ingress = {where: rule for where, direction, rule, group in security_rules(self.config)
                   if direction == "ingress"}
        self.assertEqual(sorted(ingress), [
            "aws_vpc_security_group_ingress_rule.controller_agent_port",
            "aws_vpc_security_group_ingress_rule.controller_dashboard",
            "aws_vpc_security_group_ingress_rule.controller_from_agents"])
        for name, port in (("controller_agent_port", "agent_port"),
                           ("controller_dashboard", "dashboard_port")):
            rule = ingress["aws_vpc_security_group_ingress_rule." + name]
            self.assertEqual(rule["for_each"],
                             "${var.controller_enabled ? toset(var.allowed_cidrs) : toset([])}")
            self.assertEqual(rule["cidr_ipv4"], "${each.value}")
            self.assertEqual((rule["from_port"], rule["to_port"]),
                             ("${local.%s}" % port, "${local.%s}" % port))
        from_agents = ingress["aws_vpc_security_group_ingress_rule.controller_from_agents"]
        self.assertEqual(from_agents["referenced_security_group_id"],
                         "${aws_security_group.agents[0].id}")
        local = self.config["locals"]
        self.assertEqual((local["agent_port"], local["dashboard_port"]), (5555, 5000))
        allowed = self.config["variable"]["allowed_cidrs"]
        self.assertEqual(allowed["default"], [])
        self.assertIn('!contains(["0.0.0.0/0", "::/0"], cidr)',
                      allowed["validation"][0]["condition"])

    def test_function(self):
        function = self.res("aws_lambda_function", "burst")
        self.assertEqual({key: function[key] for key in (
            "runtime", "handler", "architectures", "publish", "filename",
            "reserved_concurrent_executions")}, {
            "runtime": "provided.al2023", "handler": "bootstrap", "architectures": ["x86_64"],
            "publish": True, "filename": "${var.function_zip}",
            "reserved_concurrent_executions": "${var.reserved_concurrency}"})
        self.assertEqual(self.res("aws_cloudwatch_log_group", "function")["retention_in_days"], 7)
        self.assertEqual(self.res("aws_iam_role_policy_attachment", "function_logs")["policy_arn"],
                         "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")
        self.assertEqual(self.config["variable"]["reserved_concurrency"]["default"], 5)
        self.assertEqual(self.config["variable"]["provisioned_concurrency"]["default"], 0)

    def test_each_role_trusts_one_service(self):
        roles = {name: body["assume_role_policy"]
                 for name, body in self.config["resource"]["aws_iam_role"].items()}
        self.assertEqual(roles, {
            "function": '${local.trust_policy["lambda"]}',
            "controller": '${local.trust_policy["ec2"]}',
            "fargate_execution": '${local.trust_policy["ecs-tasks"]}',
            "fargate_lifetime": '${local.trust_policy["scheduler"]}'})
        trust = self.config["locals"]["trust_policy"]
        self.assertIn('for service in ["lambda", "ec2", "ecs-tasks", "scheduler"]', trust)
        self.assertIn('Principal = { Service = "${service}.amazonaws.com" }', trust)

    def test_alias_and_provisioned_concurrency(self):
        alias = self.res("aws_lambda_alias", "live")
        self.assertEqual((alias["name"], alias["function_version"]),
                         ("live", "${aws_lambda_function.burst.version}"))
        provisioned = self.res("aws_lambda_provisioned_concurrency_config", "live")
        self.assertEqual(provisioned["qualifier"], "${aws_lambda_alias.live.name}")
        self.assertEqual(provisioned["provisioned_concurrent_executions"],
                         "${var.provisioned_concurrency}")

    def test_function_url_permissions(self):
        self.assertEqual(self.res("aws_lambda_function_url", "live")["authorization_type"], "NONE")
        common = {"function_name": "${aws_lambda_alias.live.function_name}",
                  "qualifier": "${aws_lambda_alias.live.name}", "principal": "*"}
        self.assertEqual(self.res("aws_lambda_permission", "url_invoke_function_url"), dict(
            common, statement_id="StampedeFunctionUrlPublic", action="lambda:InvokeFunctionUrl",
            function_url_auth_type="NONE"))
        self.assertEqual(self.res("aws_lambda_permission", "url_invoke_function"), dict(
            common, statement_id="StampedeFunctionUrlInvoke", action="lambda:InvokeFunction",
            invoked_via_function_url=True))

    def test_api_doors_invoke_the_alias(self):
        http = self.res("aws_apigatewayv2_integration", "live")
        self.assertEqual((http["integration_type"], http["payload_format_version"],
                          http["integration_uri"]),
                         ("AWS_PROXY", "2.0", "${aws_lambda_alias.live.invoke_arn}"))
        for name in ("root", "proxy"):
            rest = self.res("aws_api_gateway_integration", name)
            self.assertEqual((rest["type"], rest["uri"]),
                             ("AWS_PROXY", "${aws_lambda_alias.live.invoke_arn}"))
        for name in ("http_api", "rest_api"):
            permission = self.res("aws_lambda_permission", name)
            self.assertEqual((permission["principal"], permission["qualifier"]),
                             ("apigateway.amazonaws.com", "${aws_lambda_alias.live.name}"))

    def test_outputs(self):
        outputs = self.config["output"]
        self.assertEqual(set(outputs),
                         REQUIRED_OUTPUTS | {"dashboard_url", "controller_instance_id"})
        self.assertEqual(outputs["alias_name"]["value"], "${aws_lambda_alias.live.name}")
        self.assertEqual(outputs["function_url"]["value"],
                         "${aws_lambda_function_url.live.function_url}")
        self.assertEqual(outputs["http_api_url"]["value"],
                         "${aws_apigatewayv2_api.http.api_endpoint}/")
        self.assertEqual(outputs["rest_api_url"]["value"],
                         "${aws_api_gateway_stage.live.invoke_url}/")

    def test_ec2_agents_end_themselves_and_use_cloud_init(self):
        agents = self.res("aws_instance", "agents")
        self.assertEqual(agents["count"], "${var.agent_count}")
        self.assertEqual(agents["instance_initiated_shutdown_behavior"], "terminate")
        remote_access = sorted("%s.%s %s" % (rtype, name, key)
                               for rtype, named in self.config["resource"].items()
                               for name, body in named.items()
                               for key in ("provisioner", "connection", "key_name") if key in body)
        self.assertEqual(remote_access, [])
        calls = templatefile_calls(agents["user_data"])
        self.assertEqual([(path, set(names)) for path, names in calls],
                         [("../cloud-init/agent.yaml.tftpl", AGENT_TEMPLATE_VARS)])

    def test_templates_get_every_variable_they_use(self):
        for rtype, name in (("aws_instance", "agents"), ("aws_instance", "controller")):
            for path, names in templatefile_calls(self.res(rtype, name)["user_data"]):
                with self.subTest(template=path):
                    template = os.path.join(TERRAFORM_DIR, path)
                    self.assertTrue(os.path.isfile(template), "%s is missing" % template)
                    self.assertLessEqual(template_variables(template), set(names))

    def test_controller_cloud_config_is_valid(self):
        calls = templatefile_calls(self.res("aws_instance", "controller")["user_data"])
        self.assertEqual([(path, sorted(names)) for path, names in calls], [
            ("controller.yaml.tftpl", ["agent_port", "dashboard_port", "package_url", "region"])])
        self.assertTrue(os.access(CLOUD_INIT, os.X_OK),
                        "%s is missing: run `make deps`" % CLOUD_INIT)
        values = {"agent_port": "5555", "dashboard_port": "5000", "region": "us-east-1",
                  "package_url": "https://example.com/stampede.deb"}
        with open(os.path.join(TERRAFORM_DIR, "controller.yaml.tftpl"), encoding="utf-8") as f:
            rendered = re.sub(r"(?<!\$)\$\{(\w+)\}", lambda m: values[m.group(1)], f.read())
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="stampede-tf-") as config:
            config.write(rendered)
            config.flush()
            proc = subprocess.run([CLOUD_INIT, "schema", "--config-file", config.name],
                                  capture_output=True, text=True, timeout=120)
        self.assertEqual((proc.returncode, proc.stdout.strip()),
                         (0, "Valid cloud-config: %s" % config.name), proc.stderr)

    def test_fargate_agents(self):
        task = self.res("aws_ecs_task_definition", "agent")
        self.assertEqual((task["requires_compatibilities"], task["network_mode"]),
                         (["FARGATE"], "awsvpc"))
        self.assertEqual(task["container_definitions"], "${jsonencode(local.fargate_containers)}")
        containers = {c["name"]: c for c in self.config["locals"]["fargate_containers"]}
        self.assertEqual(list(containers), ["prepare", "keygen", "announce", "agent"])
        self.assertEqual([c["readonlyRootFilesystem"] for c in containers.values()], [True] * 4)
        self.assertEqual(self.config["locals"]["agent_user"], "65532:65532")
        self.assertEqual({name: c["user"] for name, c in containers.items()}, {
            "prepare": "0", "keygen": "${local.agent_user}", "announce": "${local.agent_user}",
            "agent": "${local.agent_user}"})
        self.assertEqual([c["essential"] for c in containers.values()],
                         [False, False, False, True])
        self.assertEqual(containers["agent"]["dependsOn"],
                         [{"containerName": "keygen", "condition": "SUCCESS"}])
        self.assertEqual(containers["keygen"]["command"],
                         ["--keygen", "${local.keys_dir}/agent.key"])
        schedule = self.res("aws_scheduler_schedule", "fargate_agents_end")
        self.assertEqual(schedule["target"][0]["arn"],
                         "arn:aws:scheduler:::aws-sdk:ecs:updateService")
        self.assertRegex(schedule["target"][0]["input"], r"DesiredCount\s*=\s*0")

    def test_rules_reject_a_bad_configuration(self):
        with tempfile.TemporaryDirectory(prefix="stampede-tf-") as tmp:
            with open(os.path.join(tmp, "bad.tf"), "w", encoding="utf-8") as f:
                f.write(BAD_TF)
            bad = merged(parse_dir(tmp))
        expected = {
            world_open_problems: [
                "aws_security_group.agents: ingress from 0.0.0.0/0",
                "aws_vpc_security_group_egress_rule.anything: egress to ::/0 on -1 None-None"],
            agent_ingress_problems: [
                "aws_security_group.agents: ingress on agent security group agents"],
            function_url_problems: [
                "aws_lambda_function_url.u: not on an alias",
                "aws_lambda_function_url.u: no lambda:InvokeFunction permission for * with "
                "invoked_via_function_url"],
            provisioned_problems: [
                "aws_lambda_provisioned_concurrency_config.p: function_name is not the alias's",
                "aws_lambda_provisioned_concurrency_config.p: not var.provisioned_concurrency",
                "aws_lambda_provisioned_concurrency_config.p: not absent when "
                "var.provisioned_concurrency is 0",
                "aws_lambda_alias.a: not on a version published by aws_lambda_function "
                "(publish = true)"],
            reserved_problems: [
                "aws_lambda_function.f: reserved_concurrent_executions is not "
                "var.reserved_concurrency"],
            tag_problems: [
                "provider aws: default_tags lack stampede:deployment = var.deployment",
                "aws_lambda_function.f: overrides stampede:deployment",
                "aws_instance.agent: volume_tags lack stampede:deployment"],
            throttling_problems: [
                "no aws_api_gateway_stage",
                "aws_apigatewayv2_stage.s: default_route_settings throttling not set from the "
                "variables"],
            declaration_problems: [
                "var.undeclared used but not declared",
                "variable unused declared but not used",
                "aws_apigatewayv2_api.missing referenced but not declared"],
            output_problems: ["output %s missing" % name
                              for name in sorted(REQUIRED_OUTPUTS - {"function_url"})],
        }
        self.assertEqual(set(expected), set(RULES))
        for rule, problems in expected.items():
            with self.subTest(rule=rule.__name__):
                self.assertEqual(rule(bad), problems)

    def test_a_file_that_does_not_parse_fails(self):
        with tempfile.TemporaryDirectory(prefix="stampede-tf-") as tmp:
            with open(os.path.join(tmp, "broken.tf"), "w", encoding="utf-8") as f:
                f.write('resource "aws_vpc" "v" {\n  cidr_block = \n}\n')
            expected = r"exited 1: broken\.tf: .*\[broken\.tf:2,16-3,1: Invalid expression;"
            with self.assertRaisesRegex(AssertionError, expected):
                parse_dir(tmp)


if __name__ == "__main__":
    unittest.main()
