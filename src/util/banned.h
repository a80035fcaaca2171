/* SPDX-License-Identifier: Apache-2.0 */
/* Functions that invite buffer overflows or silent parse errors. Included
 * last by every .c file so that system headers are not affected. */
#ifndef SRC_UTIL_BANNED_H
#define SRC_UTIL_BANNED_H
#pragma GCC poison strcpy strcat strncpy strncat sprintf vsprintf strtok atoi atol atof gets
#endif
