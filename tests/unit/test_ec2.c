/* The EC2 Query client: form bodies, endpoints, error answers and import task states. */
#include <stdlib.h>
#include <string.h>

#include "cloud/ec2.h"
#include "tests/unit/unit.h"

static const struct ep_sigv4_creds creds = { "AKIDEXAMPLE", "SECRETEXAMPLEKEY", NULL };

static void emit(void *ctx, const char *text)
{
	char **out = ctx;
	free(*out);
	*out = strdup(text);
}

TEST(ec2_form_encodes_values_and_plans_masked)
{
	struct ep_ec2_form f = { 0 };
	ep_ec2_form_add(&f, "a b/c+d=\xc3\xa9~", "DiskContainer.%d.UserBucket.S3Key", 1);
	ep_ec2_form_add(&f, "uefi", "BootMode");
	EXPECT(f.text && !strcmp(f.text, "DiskContainer.1.UserBucket.S3Key=a%20b%2Fc%2Bd%3D%C3%A9~&BootMode=uefi"));
	struct ep_ec2 *ec2 = NULL;
	struct ep_error err = { 0 };
	EXPECT(ep_ec2_open(&ec2, &(struct ep_ec2_options){ .endpoint = "http://127.0.0.1:9/", .region = "eu-west-1",
							   .creds = &creds },
			   &err) == 0);
	char *text = NULL;
	EXPECT(ec2 && ep_ec2_plan(ec2, "ImportImage", &f, emit, &text, &err) == 0);
	EXPECT(text && strstr(text, "POST http://127.0.0.1:9/\n") == text);
	EXPECT(text && strstr(text, "Authorization: AWS4-HMAC-SHA256 ****\n"));
	EXPECT(text && strstr(text, "\n\nAction=ImportImage&Version=2016-11-15&DiskContainer.1.UserBucket.S3Key=a%20b"));
	EXPECT(text && !strstr(text, "AKIDEXAMPLE") && !strstr(text, "SECRETEXAMPLEKEY"));
	free(text);
	ep_ec2_close(ec2);
	ep_ec2_form_release(&f);
}

TEST(ec2_endpoint_from_the_environment)
{
	struct ep_ec2 *ec2 = NULL;
	struct ep_error err = { 0 };
	struct ep_ec2_options o = { .region = "ap-south-1", .creds = &creds };
	unsetenv("AWS_ENDPOINT_URL_EC2");
	unsetenv("AWS_ENDPOINT_URL");
	EXPECT(ep_ec2_open(&ec2, &o, &err) == 0 && !strcmp(ep_ec2_endpoint(ec2), "https://ec2.ap-south-1.amazonaws.com"));
	ep_ec2_close(ec2);
	setenv("AWS_ENDPOINT_URL", "http://all:1", 1);
	EXPECT(ep_ec2_open(&ec2, &o, &err) == 0 && !strcmp(ep_ec2_endpoint(ec2), "http://all:1"));
	ep_ec2_close(ec2);
	setenv("AWS_ENDPOINT_URL_EC2", "http://ec2only:2", 1);
	EXPECT(ep_ec2_open(&ec2, &o, &err) == 0 && !strcmp(ep_ec2_endpoint(ec2), "http://ec2only:2"));
	ep_ec2_close(ec2);
	setenv("AWS_ENDPOINT_URL_EC2", "ftp://x/y", 1);
	EXPECT(ep_ec2_open(&ec2, &o, &err) == EP_EINPUT);
	setenv("AWS_ENDPOINT_URL_EC2", "http://127.0.0.1:", 1);
	EXPECT(ep_ec2_open(&ec2, &o, &err) == EP_EINPUT);
	setenv("AWS_ENDPOINT_URL_EC2", "https://", 1);
	EXPECT(ep_ec2_open(&ec2, &o, &err) == EP_EINPUT);
	unsetenv("AWS_ENDPOINT_URL_EC2");
	unsetenv("AWS_ENDPOINT_URL");
	o.region = "eu west";
	EXPECT(ep_ec2_open(&ec2, &o, &err) == EP_EINPUT);
}

TEST(ec2_error_answers_become_messages)
{
	struct ep_error err = { 0 };
	const char auth[] = "<?xml version=\"1.0\"?><Response><Errors><Error><Code>AuthFailure</Code><Message>AWS was not "
			    "able to validate the provided access credentials</Message></Error></Errors><RequestID>1</RequestID></Response>";
	EXPECT(ep_ec2_error(401, auth, strlen(auth), "ec2: ImportImage", &err) == EP_ERUNTIME);
	EXPECT(strstr(err.msg, "ec2: ImportImage: 401 AuthFailure: AWS was not able to validate") == err.msg);
	EXPECT(strstr(err.msg, "the credentials were refused"));
	const char perm[] = "<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not\nauthorized"
			    "</Message></Error></Errors></Response>";
	EXPECT(ep_ec2_error(403, perm, strlen(perm), "x", &err) == EP_ERUNTIME && strstr(err.msg, "403 UnauthorizedOperation: You are not?authorized"));
	EXPECT(strstr(err.msg, "IAM"));
	EXPECT(ep_ec2_error(503, "<html>busy</html>", 17, "x", &err) == EP_ERUNTIME && strstr(err.msg, "x: 503"));
	EXPECT(ep_ec2_error(500, NULL, 0, "x", &err) == EP_ERUNTIME && strstr(err.msg, "500"));
}

static int task(const char *xml, const char *root, bool snapshot, const char *id, struct ep_ec2_task *st)
{
	struct ep_xml x;
	struct ep_error err = { 0 };
	int rc = ep_xml_parse(&x, xml, strlen(xml), "answer", "ec2", root, NULL, &err);
	if (!rc) {
		rc = ep_ec2_import_task(&x, snapshot, id, st, &err);
		ep_xml_release(&x);
	}
	return rc;
}

TEST(ec2_import_task_states)
{
	struct ep_ec2_task st;
	const char image[] = "<DescribeImportImageTasksResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">"
			     "<importImageTaskSet><item><importTaskId>import-ami-1</importTaskId><status>active</status>"
			     "<statusMessage>converting</statusMessage></item><item><importTaskId>import-ami-2</importTaskId>"
			     "<status>completed</status><imageId>ami-0123</imageId></item></importImageTaskSet>"
			     "</DescribeImportImageTasksResponse>";
	EXPECT(task(image, "DescribeImportImageTasksResponse", false, "import-ami-1", &st) == 0 &&
	       !strcmp(st.status, "active") && !strcmp(st.message, "converting") && !st.made[0]);
	EXPECT(task(image, "DescribeImportImageTasksResponse", false, "import-ami-2", &st) == 0 &&
	       !strcmp(st.status, "completed") && !strcmp(st.made, "ami-0123"));
	EXPECT(task(image, "DescribeImportImageTasksResponse", false, "import-ami-3", &st) == EP_ERUNTIME);
	EXPECT(task(image, "DescribeImportImageTasksResponse", false, "x']|//*['", &st) == EP_ERUNTIME);
	EXPECT(task(image, "DescribeImportImageTasksResponse", true, "import-ami-2", &st) == EP_ERUNTIME);
	const char snap[] = "<DescribeImportSnapshotTasksResponse><importSnapshotTaskSet><item><importTaskId>import-snap-9"
			    "</importTaskId><snapshotTaskDetail><status>deleted</status><statusMessage>ClientError: bad\tdisk"
			    "</statusMessage></snapshotTaskDetail></item></importSnapshotTaskSet></DescribeImportSnapshotTasksResponse>";
	EXPECT(task(snap, "DescribeImportSnapshotTasksResponse", true, "import-snap-9", &st) == 0 &&
	       !strcmp(st.status, "deleted") && !strcmp(st.message, "ClientError: bad?disk"));
	const char forged[] = "<DescribeImportImageTasksResponse><importImageTaskSet><item><importTaskId>t-1</importTaskId>"
			      "<status>completed</status><imageId>ami-1\n; rm</imageId></item></importImageTaskSet>"
			      "</DescribeImportImageTasksResponse>";
	EXPECT(task(forged, "DescribeImportImageTasksResponse", false, "t-1", &st) == EP_ERUNTIME);
}
